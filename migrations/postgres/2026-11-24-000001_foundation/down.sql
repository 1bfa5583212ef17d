DROP TABLE ingested_balances;
DROP TABLE ingested_transactions;
DROP TABLE gateway_settings;
