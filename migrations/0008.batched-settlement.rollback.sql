-- Back to counted reservations (0006): restore the columns from the live reservations.
DROP INDEX reservations_key_idx;
DROP INDEX reservations_expires_idx;
ALTER TABLE customer_months ADD COLUMN reserved_uc bigint NOT NULL DEFAULT 0;
ALTER TABLE key_months ADD COLUMN reserved_uc bigint NOT NULL DEFAULT 0;
ALTER TABLE gateway_months ADD COLUMN reserved_uc bigint NOT NULL DEFAULT 0;
UPDATE customer_months cm SET reserved_uc = r.total
FROM (SELECT customer_id, month, sum(amount_uc) AS total FROM reservations
      GROUP BY customer_id, month) r
WHERE cm.customer_id = r.customer_id AND cm.month = r.month;
UPDATE key_months km SET reserved_uc = r.total
FROM (SELECT key_id, month, sum(amount_uc) AS total FROM reservations GROUP BY key_id, month) r
WHERE km.key_id = r.key_id AND km.month = r.month;
