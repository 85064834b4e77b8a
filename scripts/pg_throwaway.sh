#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the storage tests and print its SQLAlchemy URL.
#   url=$(scripts/pg_throwaway.sh start DIR [--durable])   ...   scripts/pg_throwaway.sh stop DIR
# fsync is off unless --durable (the tests need no durability; the pairs measure with it on).
# PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user.
# The work is pairbench.pairs._pg_server's (standard library only: no virtualenv needed).
set -euo pipefail
cmd=${1:?usage: pg_throwaway.sh start|stop DIR [--durable]}; dir=${2:?usage: pg_throwaway.sh start|stop DIR [--durable]}
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
cd "$(dirname "$0")/.." && exec python3 -m pairbench.pairs._pg_server "$cmd" "$dir" "${@:3}"
