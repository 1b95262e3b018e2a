-- depends: 0010.settlement-lock-order
-- From here on the functions live in db/sql/ and every migrate re-creates them there, after the
-- migrations; 0004-0010 now hold their table changes only. This drops every function an earlier
-- migration created that is no longer live, and those whose result type changes (CREATE OR
-- REPLACE cannot change one). IF EXISTS: a database migrated by the table-only 0004-0010 never
-- had them.

-- No longer live (replaced by the batch functions in 0008 and 0009).
DROP FUNCTION IF EXISTS kaixu_sweep_reservations(text);
DROP FUNCTION IF EXISTS kaixu_admit(text, bigint, integer);
DROP FUNCTION IF EXISTS kaixu_admit(text, bigint, integer, text, text, bigint);
DROP FUNCTION IF EXISTS kaixu_settle(bigint, text, text, date, text, text, text, text, integer,
    integer, integer, integer, bigint, text, text, integer, text, text);
-- Their outcome becomes kaixu_admission_outcome (was text).
DROP FUNCTION IF EXISTS kaixu_admit_batch(text[], bigint[], integer, text[], text[], bigint);
DROP FUNCTION IF EXISTS kaixu_admit_one(text, bigint, integer, text, text, bigint);

-- What kaixu_admit_batch answers for one request: exactly core.outcomes.AdmissionOutcome, in
-- its order (tests/test_sql_definitions.py checks both sides agree).
CREATE TYPE kaixu_admission_outcome AS ENUM (
    'ok', 'unauthorized', 'device_revoked', 'device_limit', 'rate_limited', 'cap_exceeded'
);
