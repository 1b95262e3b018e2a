-- The next migrate of an older checkout re-creates its own definitions (docs/sql.md).
DROP FUNCTION IF EXISTS kaixu_admit_batch(text[], bigint[], integer, text[], text[], bigint,
    text, text[], text[], text[], integer[], bigint[], bigint[], bigint[], integer[], bigint[]);
DROP FUNCTION IF EXISTS kaixu_admit_one(text, bigint, integer, text, text, bigint, kaixu_call,
    bigint[], bigint[], integer);
DROP FUNCTION IF EXISTS kaixu_reserve(text, text, text, bigint, bigint, integer, bigint, date,
    kaixu_call, bigint[], bigint[], integer);
DELETE FROM reservations WHERE spare;
ALTER TABLE reservations DROP COLUMN spare;
