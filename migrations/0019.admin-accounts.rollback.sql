-- An account's session would otherwise outlive its account as a bootstrap owner's.
DELETE FROM admin_sessions WHERE admin_id IS NOT NULL;
ALTER TABLE admin_sessions DROP COLUMN admin_id;
DROP TABLE admins;
