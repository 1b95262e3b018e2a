DROP TABLE usage_events;
DROP TABLE reservations;
DROP TABLE key_months;
DROP TABLE customer_months;
ALTER TABLE customers DROP COLUMN extra_uc;
