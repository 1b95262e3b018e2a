-- The function goes with its tables (an older checkout declares none of it: docs/sql.md).
DROP FUNCTION IF EXISTS kaixu_fire_alerts(text[], date[], text[], smallint[], bigint[],
    bigint[], bigint[]);
DROP TABLE alert_delivery_attempts;
DROP TABLE alert_deliveries;
DROP TABLE alert_webhooks;
DROP TABLE alerts;
ALTER TABLE customers DROP COLUMN alert_thresholds, DROP COLUMN credit_low_uc;
