#!/usr/bin/env bash
# Print the value for PARLEY_SECRET_KEY (stdout: the key only).
#
# $PARLEY_SECRET_KEY wins if set and non-empty; otherwise the key is read from
# <repo>/.data/secret.key, which is created on first use with 32 random bytes,
# base64-encoded, mode 0600.
set -euo pipefail

if [[ -n ${PARLEY_SECRET_KEY:-} ]]; then
    printf '%s\n' "$PARLEY_SECRET_KEY"
    exit 0
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
KEY_FILE="$ROOT/.data/secret.key"
# .data itself stays traversable (scripts/pg.sh may keep the cluster in it and
# run PostgreSQL as another user); only the key file is private.
# shellcheck disable=SC2174 # only one level is created
mkdir -p -m 755 -- "$ROOT/.data"
umask 077

if [[ ! -s $KEY_FILE ]]; then
    tmp="$(mktemp "$KEY_FILE.XXXXXX")"
    trap 'rm -f -- "$tmp"' EXIT
    head -c 32 /dev/urandom | base64 | tr -d '\n' >"$tmp"
    printf '\n' >>"$tmp"
    # Atomic and never overwrites a key another process created meanwhile.
    if ln -- "$tmp" "$KEY_FILE" 2>/dev/null; then
        echo "secret-key.sh: generated $KEY_FILE" >&2
    elif [[ ! -s $KEY_FILE ]]; then
        mv -f -- "$tmp" "$KEY_FILE" # empty leftover file: replace it
        echo "secret-key.sh: generated $KEY_FILE" >&2
    fi
fi

key="$(tr -d '[:space:]' <"$KEY_FILE")"
[[ -n $key ]] || { echo "secret-key.sh: $KEY_FILE is empty" >&2; exit 1; }
printf '%s\n' "$key"
