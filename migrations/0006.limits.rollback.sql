DROP TABLE gateway_months;
DROP TABLE rate_limits;
DROP TABLE devices;
