#!/usr/bin/env bash
# Fuzzes the External API v2 with schemathesis (from PyPI) using seed 000's OpenAPI document:
# every documented path gets generated requests (valid and invalid), and every answer is checked
# against the spec (no 5xx, documented status codes, content types, headers and schemas).
#
#   scripts/fuzz-external-api.sh [SCHEMATHESIS OPTIONS]    (e.g. --max-examples 20)
#
# Installs schemathesis into .data/schemathesis-venv (once), starts the test cluster
# (scripts/pg.sh, port PARLEY_TEST_PG_PORT, default 54330), migrates a fresh database
# parley_fuzz, creates the demo workspace and number, raises the demo token's rate limit (the
# fuzzer sends thousands of requests), serves Parley (debug build, in-process Meta sandbox) and
# runs `schemathesis run` with every check, save the deviations scripts/schemathesis.toml
# explains. Exits with schemathesis's status. SEED_SPEC overrides the spec path.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
SPEC="${SEED_SPEC:-$(ls "$ROOT"/../shared/seeds/000_*.openapi.json | head -1)}"
VENV="$ROOT/.data/schemathesis-venv"
SCHEMATHESIS_VERSION="4.32.5"
PORT="${PARLEY_FUZZ_PORT:-18080}"
SANDBOX_PORT="${PARLEY_FUZZ_SANDBOX_PORT:-18090}"
PG_ARGS=(--data "$ROOT/.data/pg-test" --port "${PARLEY_TEST_PG_PORT:-54330}")

if [[ ! -x $VENV/bin/schemathesis ]] || ! "$VENV/bin/schemathesis" --version | grep -q "$SCHEMATHESIS_VERSION"; then
    echo "+ installing schemathesis $SCHEMATHESIS_VERSION into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

"$ROOT/scripts/pg.sh" start "${PG_ARGS[@]}" --fast
BASE_URL="$("$ROOT/scripts/pg.sh" url "${PG_ARGS[@]}")"
psql -qX "$BASE_URL" -c "DROP DATABASE IF EXISTS parley_fuzz WITH (FORCE)" -c "CREATE DATABASE parley_fuzz" >/dev/null
export DATABASE_URL="${BASE_URL%/*}/parley_fuzz"
export PARLEY_SECRET_KEY="${PARLEY_SECRET_KEY:-$("$ROOT/scripts/secret-key.sh")}"
export PARLEY_LISTEN="127.0.0.1:$PORT" PARLEY_SANDBOX_LISTEN="127.0.0.1:$SANDBOX_PORT"
export PARLEY_LOG="${PARLEY_LOG:-warn}"

echo "+ cargo build -p parley" >&2
(cd "$ROOT" && cargo build -q -p parley)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/parley"
[[ $BIN = /* ]] || BIN="$ROOT/$BIN"

"$BIN" migrate >/dev/null
TOKEN="$("$BIN" demo | grep -o 'wat_[A-Za-z0-9_-]*' | head -1)"
psql -qX "$DATABASE_URL" -c "UPDATE api_tokens SET rate_limit_per_window = 1000000" >/dev/null

"$BIN" serve &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break
    sleep 0.1
done

echo "+ schemathesis run $(basename "$SPEC") --url http://127.0.0.1:$PORT" >&2
"$VENV/bin/schemathesis" --config-file "$ROOT/scripts/schemathesis.toml" run "$SPEC" \
    --url "http://127.0.0.1:$PORT" \
    --header "Authorization: Bearer $TOKEN" \
    --workers 2 \
    "$@"
