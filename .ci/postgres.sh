#!/usr/bin/env bash
# Start a throwaway PostgreSQL (Debian's packages) on 127.0.0.1 for the tests and
# print the SQLAlchemy URL of a fresh database. The password is random per start,
# so none lives in the repo.
set -euo pipefail
PORT=${RETAILNOVA_TEST_PG_PORT:-55432}
DATA=${RETAILNOVA_TEST_PG_DATA:-/tmp/retailnova-pg}
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PASSWORD=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')

if [ -f "$DATA/postmaster.pid" ]; then
  su postgres -c "$BIN/pg_ctl -D $DATA -m fast stop" >/dev/null 2>&1 || true
fi
rm -rf "$DATA"
mkdir -p "$DATA"
chown postgres:postgres "$DATA"
su postgres -c "$BIN/initdb -D $DATA -A trust -U postgres" >/dev/null
su postgres -c "$BIN/pg_ctl -D $DATA -l $DATA/server.log -w \
  -o '-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off' start" >/dev/null
psql -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -q <<SQL
CREATE ROLE retailnova LOGIN PASSWORD '$PASSWORD';
CREATE DATABASE retailnova_test OWNER retailnova;
-- A Hive metastore shared by the Thrift server and the extractor (tests/extract/test_thrift.py).
CREATE DATABASE retailnova_metastore OWNER retailnova;
SQL
# Password auth from here on, as in production.
sed -i 's/ trust$/ scram-sha-256/' "$DATA/pg_hba.conf"
su postgres -c "$BIN/pg_ctl -D $DATA reload" >/dev/null
echo "postgresql://retailnova:$PASSWORD@127.0.0.1:$PORT/retailnova_test"
