#!/bin/bash
# Runs once, when the ClickHouse volume is first initialised: a read-only user for Grafana, so a
# dashboard query can never write. readonly = 2 still lets the plugin set max_execution_time.
# The password comes from the environment, never from this file (it must not contain a quote).
set -euo pipefail
clickhouse client --user "${CLICKHOUSE_USER}" --password "${CLICKHOUSE_PASSWORD}" --multiquery <<SQL
CREATE USER IF NOT EXISTS ${CLICKHOUSE_GRAFANA_USER}
    IDENTIFIED WITH sha256_password BY '${CLICKHOUSE_GRAFANA_PASSWORD}'
    SETTINGS readonly = 2;
GRANT SELECT ON ${GOSPUBLIC_CLICKHOUSE_DATABASE:-gospublic}.* TO ${CLICKHOUSE_GRAFANA_USER};
SQL
