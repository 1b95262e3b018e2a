-- depends: 0017.pending-settlements
-- Spare reservations: an admission may reserve a few more of the same amount, held by its
-- process for the next requests of the same key and device, which are then admitted without a
-- round trip (proxy/ledger/spares.py). `spare` marks one nobody claimed yet: a reaper deletes a
-- dead process's unclaimed spares instead of billing them. kaixu_reserve, kaixu_admit_one and
-- kaixu_admit_batch gain the spares (db/sql/limits.sql); the old definitions go, the new ones
-- are created right after the migrations (docs/sql.md).
ALTER TABLE reservations ADD COLUMN spare boolean NOT NULL DEFAULT false;
DROP FUNCTION IF EXISTS kaixu_admit_batch(text[], bigint[], integer, text[], text[], bigint,
    text, text[], text[], text[], integer[], bigint[], bigint[], bigint[]);
DROP FUNCTION IF EXISTS kaixu_admit_one(text, bigint, integer, text, text, bigint, kaixu_call,
    bigint[], bigint[]);
DROP FUNCTION IF EXISTS kaixu_reserve(text, text, text, bigint, bigint, integer, bigint, date,
    kaixu_call, bigint[], bigint[]);
