#!/usr/bin/env bash
# The broadcast benchmark (issue 4): `parley bench broadcast` on a fresh database, through
# scripts/bench.sh (which says what happens and which environment it reads).
#
#   scripts/bench-broadcast.sh [OPTIONS]    (passed on, e.g. --recipients 10000)
#
# A broadcast of 100,000 recipients by default: a few minutes at the sandbox's 1000/s.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/bench.sh" broadcast "$@"
