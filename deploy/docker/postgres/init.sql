-- Runs once, when the PostgreSQL volume is created (docker-entrypoint-initdb.d), as the
-- POSTGRES_USER against POSTGRES_DB (dormant_ingest). Each service owns its own database:
-- login-ingest dormant_ingest, policy dormant_policy. They share nothing but events.
CREATE DATABASE dormant_policy OWNER dormant;
