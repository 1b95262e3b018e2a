DROP TABLE audit_log;
DROP TABLE invoices;
DROP TABLE stripe_events;
DROP TABLE topups;
