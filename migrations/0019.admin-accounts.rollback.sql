ALTER TABLE admin_sessions DROP COLUMN admin_id;
DROP TABLE admins;
