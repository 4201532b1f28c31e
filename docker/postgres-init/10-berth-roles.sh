#!/bin/sh
# Runs once, when the postgres container initialises an empty data directory
# (mounted at /docker-entrypoint-initdb.d by docker-compose.yml).
#
# Two roles, so that the server cannot rewrite its own audit trail:
#   berth_owner  owns the berth database and everything the migrations create,
#                including audit_event and its append-only trigger. Only the
#                one-shot `migrate` service logs in as it.
#   berth_app    what the server serves as: no superuser, owns nothing. After
#                migrating, Berth grants it full DML on its tables but only
#                SELECT and INSERT on audit_event (server/db/roles.ts), so it
#                can neither switch the trigger off nor change or delete rows.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_password="$BERTH_OWNER_PASSWORD" -v app_password="$BERTH_APP_PASSWORD" <<'SQL'
CREATE ROLE berth_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE berth_app LOGIN PASSWORD :'app_password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
CREATE DATABASE berth OWNER berth_owner;
REVOKE ALL ON DATABASE berth FROM PUBLIC;
GRANT CONNECT ON DATABASE berth TO berth_app;
SQL
