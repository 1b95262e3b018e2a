-- depends: 0007.billing
-- Throughput without giving up exactness.
--
-- Before: admission and settlement both locked the customer's month row, and settlement held
-- that lock through its WAL flush, so every customer's requests queued behind each other's
-- disk writes. Now:
-- * what is reserved is no longer a counter but the sum of the live rows in `reservations`
--   (those not yet expired), read in the same snapshot as the spend;
-- * admissions of one customer queue on a transaction-scoped advisory lock instead, and
--   commit without waiting for their WAL flush (see kaixu_admit_batch in db/sql/limits.sql);
-- * settlements never touch what admissions lock, and are applied in batches: every
--   settlement waiting at the same moment shares one transaction and one WAL flush, while
--   each is still committed before its request is answered (db/sql/ledger.sql).
-- Expired reservations simply stop counting: nothing has to be swept for the books to be right.
-- The functions this needs live in db/sql/ (they were once written out here).

ALTER TABLE customer_months DROP COLUMN reserved_uc;
ALTER TABLE key_months DROP COLUMN reserved_uc;
ALTER TABLE gateway_months DROP COLUMN reserved_uc;
CREATE INDEX reservations_key_idx ON reservations (key_id, expires_at);
CREATE INDEX reservations_expires_idx ON reservations (expires_at);
