-- depends: 0016.usage-partitions
-- Admission counts the admitting process's settlements not yet committed (requests are
-- answered before their usage rows are written): kaixu_books, kaixu_reserve, kaixu_admit_one
-- and kaixu_admit_batch take them as two more arrays (db/sql/limits.sql). The old definitions
-- go; the new ones are created right after the migrations (docs/sql.md).
DROP FUNCTION IF EXISTS kaixu_admit_batch(text[], bigint[], integer, text[], text[], bigint,
    text, text[], text[], text[], integer[], bigint[]);
DROP FUNCTION IF EXISTS kaixu_admit_one(text, bigint, integer, text, text, bigint, kaixu_call);
DROP FUNCTION IF EXISTS kaixu_reserve(text, text, text, bigint, bigint, integer, bigint, date,
    kaixu_call);
DROP FUNCTION IF EXISTS kaixu_books(text, text, date);
