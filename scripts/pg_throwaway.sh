#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the storage tests and print its SQLAlchemy URL.
#   url=$(scripts/pg_throwaway.sh start DIR)   ...   scripts/pg_throwaway.sh stop DIR
# PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user.
set -euo pipefail
cmd=${1:?usage: pg_throwaway.sh start|stop DIR}; dir=${2:?usage: pg_throwaway.sh start|stop DIR}
bin=$(dirname "$(command -v initdb 2>/dev/null || ls -1 /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)")
[ -x "$bin/pg_ctl" ] || { echo "pg_throwaway: no PostgreSQL server binaries found" >&2; exit 3; }
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
case "$cmd" in
start)
  mkdir -p "$dir"; [ "$(id -u)" = 0 ] && chown postgres "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_pg "'$bin/initdb' -D '$dir/data' -A trust -U postgres --no-sync >'$dir/initdb.log' 2>&1"
  as_pg "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 60 -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off\" start >/dev/null"
  echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres" ;;
stop)
  [ -d "$dir/data" ] && as_pg "'$bin/pg_ctl' -D '$dir/data' -m immediate -w stop >/dev/null 2>&1" || true
  rm -rf "$dir" ;;
*) echo "usage: pg_throwaway.sh start|stop DIR" >&2; exit 2 ;;
esac
