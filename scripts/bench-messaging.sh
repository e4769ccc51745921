#!/usr/bin/env bash
# The messaging benchmark (issue 3): `parley bench messaging` on a fresh database, through
# scripts/bench.sh (which says what happens and which environment it reads).
#
#   scripts/bench-messaging.sh [OPTIONS]    (passed on, e.g. --seconds 10 --messages 10000)
#
# Besides the one process, it runs pgbench against the same cluster.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/bench.sh" messaging "$@"
