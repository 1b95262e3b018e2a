DROP FUNCTION kaixu_settle(bigint, text, text, date, text, text, text, text, integer, integer,
    integer, integer, bigint, text, text, integer, text, text);
DROP FUNCTION kaixu_admit(text, bigint, integer);
DROP FUNCTION kaixu_sweep_reservations(text);
DROP TABLE usage_events;
DROP TABLE reservations;
DROP TABLE key_months;
DROP TABLE customer_months;
ALTER TABLE customers DROP COLUMN extra_uc;
