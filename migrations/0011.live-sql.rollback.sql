-- The type goes, and with it the live functions whose signature uses it; the next migrate
-- re-creates both. Rolling back never restores an older function (docs/sql.md).
DROP FUNCTION IF EXISTS kaixu_admit_batch(text[], bigint[], integer, text[], text[], bigint);
DROP FUNCTION IF EXISTS kaixu_admit_one(text, bigint, integer, text, text, bigint);
DROP FUNCTION IF EXISTS kaixu_reserve(text, text, bigint, bigint, integer, bigint, date);
DROP FUNCTION IF EXISTS kaixu_device_seat(text, text, integer, text, text);
DROP TYPE kaixu_admission_outcome;
