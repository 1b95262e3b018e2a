ALTER INDEX admin_login_failures_scope_idx RENAME TO admin_login_failures_address_idx;
DELETE FROM admin_login_failures WHERE scope NOT LIKE 'address:%';
UPDATE admin_login_failures SET scope = substr(scope, length('address:') + 1);
ALTER TABLE admin_login_failures RENAME COLUMN scope TO address;
DROP TABLE admin_sessions;
