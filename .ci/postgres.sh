#!/usr/bin/env bash
# Install (Debian) and start a throwaway PostgreSQL server on loopback for the store tests.
# Prints the URL to export as QMTL_TEST_PG_URL. Idempotent within one machine.
set -euo pipefail
PORT=${PGPORT_TEST:-55432}
DATA=${PGDATA_TEST:-/tmp/qmtl-pgdata}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
RUNAS=()
if [ "$(id -u)" = "0" ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql postgres
  RUNAS=(runuser -u postgres --)
fi
if ! "${RUNAS[@]}" "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  rm -rf "$DATA"; mkdir -p "$DATA"; [ "$(id -u)" = "0" ] && chown postgres "$DATA"
  "${RUNAS[@]}" "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 >/dev/null
  "${RUNAS[@]}" "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
     -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1" start >/dev/null
fi
"${RUNAS[@]}" "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='qmtl_test'" | grep -q 1 \
  || "${RUNAS[@]}" "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres qmtl_test
# a role that must give its password (scram), for the store's wrong-password test; the other roles trust
HBA="$DATA/pg_hba.conf"
if ! "${RUNAS[@]}" grep -q '^host all qmtl_pw ' "$HBA"; then
  "${RUNAS[@]}" sed -i '1i host all qmtl_pw 127.0.0.1/32 scram-sha-256' "$HBA"
  "${RUNAS[@]}" "$BIN/pg_ctl" -D "$DATA" reload >/dev/null
fi
"${RUNAS[@]}" "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qtc "SELECT 1 FROM pg_roles WHERE rolname='qmtl_pw'" | grep -q 1 \
  || "${RUNAS[@]}" "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE ROLE qmtl_pw LOGIN PASSWORD 'qmtl-pw-right'" >/dev/null
echo "postgresql://postgres@127.0.0.1:$PORT/qmtl_test"
