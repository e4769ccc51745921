#!/usr/bin/env bash
# Runs one `parley bench` benchmark on a fresh database.
#
#   scripts/bench.sh BENCHMARK [OPTIONS]    (BENCHMARK: messaging or broadcast; OPTIONS passed on)
#
# Builds the release binary (cargo skips it when up to date), creates a database
# parley_bench_<time> on the cluster of DATABASE_URL, and runs `parley bench BENCHMARK` on it:
# the API server, projector and outbox worker in that process, the Meta sandbox in a child
# process it starts and stops. Figures go to stdout, one per line. The database is dropped
# afterwards unless KEEP_DB=1.
#
# Environment: DATABASE_URL (any database on the cluster to use; default: the `make run`
# cluster, started with scripts/pg.sh), CARGO_TARGET_DIR, KEEP_DB, PARLEY_DB_POOL_SIZE.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    sed -n '4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}/usage: /' >&2
    exit 2
fi
BENCHMARK=$1
shift

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
if [[ -z ${DATABASE_URL:-} ]]; then
    "$ROOT/scripts/pg.sh" start
    BASE_URL="$("$ROOT/scripts/pg.sh" url)"
else
    BASE_URL=$DATABASE_URL
fi
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
[[ $TARGET = /* ]] || TARGET="$ROOT/$TARGET"
BIN="$TARGET/release/parley"

echo "+ cargo build --release -p parley" >&2
(cd "$ROOT" && cargo build --release -p parley)

DB="parley_bench_$(date +%s)_$$"
BENCH_URL="${BASE_URL%/*}/$DB"
psql -qX "$BASE_URL" -c "CREATE DATABASE $DB" >/dev/null
cleanup() {
    if [[ ${KEEP_DB:-0} != 1 ]]; then
        psql -qX "$BASE_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null || true
    else
        echo "kept database: $BENCH_URL" >&2
    fi
}
trap cleanup EXIT

echo "+ parley bench $BENCHMARK $* (database $DB)" >&2
DATABASE_URL="$BENCH_URL" PARLEY_LOG="${PARLEY_LOG:-warn}" "$BIN" bench "$BENCHMARK" "$@"
