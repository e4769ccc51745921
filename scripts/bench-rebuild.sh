#!/usr/bin/env bash
# Measures how fast `parley projections rebuild` folds the event log.
#
#   scripts/bench-rebuild.sh [N]
#
# Creates a fresh database on the running cluster, migrates it with the release binary, writes
# N contact events (default 200000) straight into `events` with SQL: N/2 ContactCreated, then
# N/2 ContactTagsChanged in a later transaction (so half the folds load an existing row), and
# runs `parley projections rebuild contacts` and `parley projections rebuild` (all). The database
# is dropped afterwards unless KEEP_DB=1.
#
# Environment: DATABASE_URL (any database on the cluster to use; default
# postgres://parley@127.0.0.1:54340/parley), CARGO_TARGET_DIR, KEEP_DB.
set -euo pipefail

N="${1:-200000}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
BASE_URL="${DATABASE_URL:-postgres://parley@127.0.0.1:54340/parley}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
[[ $TARGET = /* ]] || TARGET="$ROOT/$TARGET"
BIN="$TARGET/release/parley"

if [[ ! -x $BIN ]]; then
    echo "+ cargo build --release -p parley" >&2
    (cd "$ROOT" && cargo build --release -p parley)
fi

DB="parley_bench_$(date +%s)_$$"
BENCH_URL="${BASE_URL%/*}/$DB"
psql -qX "$BASE_URL" -c "CREATE DATABASE $DB" >/dev/null
cleanup() {
    if [[ ${KEEP_DB:-0} != 1 ]]; then
        psql -qX "$BASE_URL" -c "DROP DATABASE IF EXISTS $DB" >/dev/null || true
    else
        echo "kept database: $BENCH_URL" >&2
    fi
}
trap cleanup EXIT

export DATABASE_URL="$BENCH_URL" PARLEY_LOG=warn
"$BIN" migrate 2>/dev/null

CONTACTS=$((N / 2))
echo "generating $((CONTACTS * 2)) contact events ($CONTACTS contacts) in $DB" >&2
started=$(date +%s.%N)
psql -qX -v ON_ERROR_STOP=1 -v contacts="$CONTACTS" "$BENCH_URL" >/dev/null <<'SQL'
CREATE TEMP TABLE bench AS
SELECT gen_random_uuid() AS workspace_id, gen_random_uuid() AS account_id,
       to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at;

INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT 'contact', md5('contact' || i)::uuid::text, 1, 'ContactCreated', '1',
       json_build_object('ContactCreated', json_build_object(
           'workspace_id', b.workspace_id, 'account_id', b.account_id,
           'phone', '+1555' || lpad(i::text, 7, '0'), 'name', 'Contact ' || i,
           'email', 'c' || i || '@example.com', 'company', NULL,
           'tags', json_build_array('imported'), 'groups', json_build_array('g' || (i % 10)),
           'is_opted_in', i % 2 = 0, 'custom_fields', json_build_object('n', i::text),
           'notes', NULL, 'at', b.at)),
       json_build_object('actor', 'cli', 'correlation_id', gen_random_uuid(), 'time', b.at)
FROM generate_series(1, :contacts) AS i, bench b
ORDER BY i;

INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT 'contact', md5('contact' || i)::uuid::text, 2, 'ContactTagsChanged', '1',
       json_build_object('ContactTagsChanged', json_build_object(
           'tags', json_build_array('imported', 'tag-' || (i % 100)), 'at', b.at)),
       json_build_object('actor', 'cli', 'correlation_id', gen_random_uuid(), 'time', b.at)
FROM generate_series(1, :contacts) AS i, bench b
ORDER BY i;
ANALYZE events;
SQL
echo "generated in $(echo "$(date +%s.%N) - $started" | bc)s" >&2

echo "+ parley projections rebuild contacts" >&2
"$BIN" projections rebuild contacts 2>/dev/null
echo "+ parley projections rebuild" >&2
"$BIN" projections rebuild 2>/dev/null
rows=$(psql -qAtX "$BENCH_URL" -c "SELECT count(*) FROM contacts WHERE cardinality(tags) = 2")
echo "contacts with both tags: $rows (expected $CONTACTS)" >&2
[[ $rows == "$CONTACTS" ]]
