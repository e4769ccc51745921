#!/usr/bin/env bash
# Manage a project-local PostgreSQL cluster for Parley.
#
#   scripts/pg.sh start|stop|status|url|destroy [--data DIR] [--port PORT] [--fast]
#
#   start    initialise (if needed) and start the cluster, create database `parley`
#   stop     stop the cluster (fast shutdown) if it is running
#   status   report on stderr; exit 0 = running, 3 = not running, 4 = no cluster
#   url      print postgres://parley@127.0.0.1:PORT/parley (the only stdout output)
#   destroy  stop the cluster and delete its data directory
#
# Defaults: --data <repo>/.data/pg, --port $PARLEY_PG_PORT or 54329.
# --fast (tests only) turns off fsync, synchronous_commit and full_page_writes.
# A relative --data is taken relative to the current directory.
#
# PostgreSQL refuses to run as root: when run as root, initdb/pg_ctl run as the
# `postgres` OS user (override with PARLEY_PG_OS_USER). If that user cannot reach
# the data directory (e.g. the repo lives under /root), the cluster is put under
# /var/tmp/parley-pg/<sha1 of the data path>/ and the data path becomes a
# symlink to it.
#
# Environment: PARLEY_PG_PORT, PARLEY_PG_BINDIR (explicit PostgreSQL bin dir),
# PARLEY_PG_OS_USER (default postgres), PARLEY_PG_STATS=1 (preload pg_stat_statements, for
# profiling; `CREATE EXTENSION pg_stat_statements` in any database to read it).
set -euo pipefail

# Keep stdout clean: everything goes to stderr, the URL goes to fd 3.
exec 3>&1 1>&2

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DB_USER=parley
DB_NAME=parley
PG_OS_USER="${PARLEY_PG_OS_USER:-postgres}"
FALLBACK_BASE=/var/tmp/parley-pg

log() { printf 'pg.sh: %s\n' "$*" >&2; }
die() { printf 'pg.sh: error: %s\n' "$*" >&2; exit 1; }
usage() {
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

# ---------------------------------------------------------------- arguments --
CMD=""
DATA_ARG=""
PORT="${PARLEY_PG_PORT:-54329}"
FAST=0
while (($#)); do
    case "$1" in
        start | stop | status | url | destroy)
            [[ -z $CMD ]] || die "only one command allowed (got '$CMD' and '$1')"
            CMD=$1
            ;;
        --data) (($# >= 2)) || die "--data needs a value"; DATA_ARG=$2; shift ;;
        --data=*) DATA_ARG=${1#--data=} ;;
        --port) (($# >= 2)) || die "--port needs a value"; PORT=$2; shift ;;
        --port=*) PORT=${1#--port=} ;;
        --fast) FAST=1 ;;
        -h | --help | help) usage 0 ;;
        *) log "unknown argument: $1"; usage 2 ;;
    esac
    shift
done
[[ -n $CMD ]] || usage 2
if ! [[ $PORT =~ ^[0-9]+$ ]] || ((10#$PORT < 1 || 10#$PORT > 65535)); then die "invalid port: $PORT"; fi
PORT=$((10#$PORT))

if [[ $CMD == url ]]; then
    printf 'postgres://%s@127.0.0.1:%s/%s\n' "$DB_USER" "$PORT" "$DB_NAME" >&3
    exit 0
fi

# Connection environment must not leak into our client calls.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGSERVICE PGOPTIONS PGDATA PGPASSWORD || true

IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1

# ------------------------------------------------------------------- paths --
# DATA: absolute data path as given (parent canonicalised, last component kept,
# since it may be a symlink). REAL: the canonical cluster directory.
DATA_ARG="${DATA_ARG:-$ROOT/.data/pg}"
[[ $DATA_ARG == /* ]] || DATA_ARG="$PWD/$DATA_ARG"
DATA_ARG="${DATA_ARG%/}"
PARENT="$(realpath -m -- "$(dirname -- "$DATA_ARG")")"
DATA="$PARENT/$(basename -- "$DATA_ARG")"
HASH="$(printf '%s' "$DATA" | sha1sum | cut -c1-40)"
resolve_real() {
    if [[ -L $DATA ]]; then
        REAL="$(readlink -m -- "$DATA")"
    else
        REAL="$DATA"
    fi
}
resolve_real

# Run a command as the cluster's OS user, from / (an inaccessible cwd can't hurt)
# and with every fd above 2 closed: a server started by pg_ctl must not inherit
# our lock (fd 9), our real stdout (fd 3) or any pipe of the caller (make, CI),
# or it would hold them open for as long as it runs.
pgrun() {
    (
        local fd
        if [[ -d /proc/$BASHPID/fd ]]; then
            for fd in /proc/"$BASHPID"/fd/*; do
                fd=${fd##*/}
                if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
            done
        else
            exec 3>&- 9>&-
        fi
        cd /
        if ((IS_ROOT)); then
            exec runuser -u "$PG_OS_USER" -- "$@"
        else
            exec "$@"
        fi
    )
}

# ---------------------------------------------------------------- binaries --
BINDIR=""
find_bindir() {
    local cands=() d
    [[ -n ${PARLEY_PG_BINDIR:-} ]] && cands+=("$PARLEY_PG_BINDIR")
    if command -v pg_config >/dev/null 2>&1; then
        d="$(pg_config --bindir 2>/dev/null || true)"
        [[ -n $d ]] && cands+=("$d")
    fi
    while IFS= read -r d; do
        [[ -n $d ]] && cands+=("$d")
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -rV)
    if d="$(command -v initdb 2>/dev/null)"; then
        cands+=("$(dirname -- "$(readlink -f -- "$d")")")
    fi
    for d in "${cands[@]}"; do
        if [[ -x $d/initdb && -x $d/pg_ctl ]]; then
            BINDIR="$d"
            return 0
        fi
    done
    return 1
}

install_postgres() {
    local sudo=()
    if ((!IS_ROOT)); then
        command -v sudo >/dev/null 2>&1 || die "PostgreSQL not found and not root: install the 'postgresql' package"
        sudo=(sudo -n)
    fi
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL not found and apt-get unavailable: install PostgreSQL (server) first"
    log "PostgreSQL server binaries not found; installing the 'postgresql' package with apt-get"
    # Never let the package start the Debian cluster service, and don't let it
    # create the default 'main' cluster either (we run our own cluster).
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e $policy ]]; then
        "${sudo[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        added_policy=1
        # shellcheck disable=SC2064 # expand now: $sudo/$policy are locals
        trap "${sudo[*]} rm -f $policy" EXIT
    fi
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql-common
    if [[ -f /etc/postgresql-common/createcluster.conf ]]; then
        "${sudo[@]}" sed -ri 's/^#?[[:space:]]*create_main_cluster[[:space:]]*=.*/create_main_cluster = false/' \
            /etc/postgresql-common/createcluster.conf ||
            log "warning: could not set create_main_cluster = false in /etc/postgresql-common/createcluster.conf"
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
    if ((added_policy)); then
        "${sudo[@]}" rm -f "$policy"
        trap - EXIT
    fi
}

# Client tools: prefer the server's bin dir, fall back to PATH.
pgbin() {
    if [[ -n $BINDIR && -x $BINDIR/$1 ]]; then
        printf '%s\n' "$BINDIR/$1"
    elif command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
    else
        die "PostgreSQL tool '$1' not found"
    fi
}

bin_major() { "$BINDIR/pg_ctl" --version | sed -nE 's/.*\(PostgreSQL\) ([0-9]+).*/\1/p'; }

# If the cluster was created by another major version, use that version's binaries.
match_cluster_version() {
    [[ -f $REAL/PG_VERSION ]] || return 0
    local want have
    want="$(cat "$REAL/PG_VERSION")"
    have="$(bin_major)"
    [[ $want == "$have" ]] && return 0
    if [[ -x /usr/lib/postgresql/$want/bin/pg_ctl ]]; then
        BINDIR="/usr/lib/postgresql/$want/bin"
        log "cluster is PostgreSQL $want; using $BINDIR"
    else
        die "cluster in $DATA is PostgreSQL $want but only PostgreSQL $have binaries were found ($BINDIR); run 'scripts/pg.sh destroy' to recreate it"
    fi
}

# ------------------------------------------------------------ process state --
pid_file() { printf '%s\n' "$REAL/postmaster.pid"; }

# PIDs of postgres processes whose working directory is this cluster (postgres
# chdirs into its data directory; /proc/PID/cwd is fully resolved).
cluster_pids() {
    [[ -d /proc/self ]] || return 0
    local p cwd comm
    for p in /proc/[0-9]*; do
        cwd="$(readlink -- "$p/cwd" 2>/dev/null)" || continue
        [[ $cwd == "$REAL" ]] || continue
        comm="$(cat -- "$p/comm" 2>/dev/null)" || continue
        [[ $comm == postgres || $comm == postmaster ]] && printf '%s\n' "${p#/proc/}"
    done
    return 0
}

is_running() {
    [[ -f $REAL/PG_VERSION && -f $(pid_file) ]] || return 1
    pgrun "$BINDIR/pg_ctl" status -D "$REAL" >/dev/null 2>&1 || return 1
    # Guard against PID reuse (e.g. after a container restart): the process
    # named in postmaster.pid must really be a postmaster of this cluster.
    local pid cwd
    pid="$(head -n1 "$(pid_file)" 2>/dev/null || true)"
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -d /proc/self ]] || return 0 # no procfs: trust pg_ctl
    # A killed postmaster can linger as a zombie until it is reaped; kill -0
    # (what pg_ctl uses) still succeeds on it.
    [[ $(sed -E 's/^.*\) (.).*$/\1/' "/proc/$pid/stat" 2>/dev/null) == [ZXx] ]] && return 1
    cwd="$(readlink -- "/proc/$pid/cwd" 2>/dev/null)" || return 0 # cannot verify: trust pg_ctl
    [[ $cwd == "$REAL" ]]
}

# Remove a stale postmaster.pid (and socket lock files) left behind by a crash.
clear_stale_pidfile() {
    [[ -f $(pid_file) ]] || return 0
    local orphans
    orphans="$(cluster_pids | xargs)"
    if [[ -n $orphans ]]; then
        die "the postmaster is gone but postgres processes ($orphans) still use $REAL; stop them first"
    fi
    log "removing stale $(pid_file) (server is not running)"
    rm -f -- "$(pid_file)" "$REAL"/.s.PGSQL.*.lock
}

pidfile_port() { sed -n '4p' "$(pid_file)" 2>/dev/null || true; }

wait_ready() {
    local isready i
    isready="$(pgbin pg_isready)"
    for ((i = 0; i < 120; i++)); do
        if "$isready" -q -h 127.0.0.1 -p "$PORT" -U "$DB_USER" -d postgres; then
            return 0
        fi
        sleep 0.5
    done
    tail -n 30 "$REAL/server.log" >&2 2>/dev/null || true
    die "server did not become ready on 127.0.0.1:$PORT within 60s"
}

# ---------------------------------------------------------- data directory --
ensure_pg_os_user() {
    id -u "$PG_OS_USER" >/dev/null 2>&1 && return 0
    log "creating system user $PG_OS_USER"
    useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
        --shell /bin/bash --comment "PostgreSQL administrator" "$PG_OS_USER"
}

dir_is_empty() { [[ -d $1 && -z $(ls -A -- "$1") ]]; }

own_for_pg() { # chown (root only) + 0700
    if ((IS_ROOT)); then chown "$PG_OS_USER:" -- "$1"; fi
    chmod 700 -- "$1"
}

use_fallback_dir() {
    local real="$FALLBACK_BASE/$HASH"
    log "$PG_OS_USER cannot access $DATA; using $real (symlinked from $DATA)"
    if [[ ! -d $FALLBACK_BASE ]]; then
        mkdir -p -- "$FALLBACK_BASE"
        chmod 755 -- "$FALLBACK_BASE"
    fi
    mkdir -p -- "$real"
    own_for_pg "$real"
    printf '%s\n' "$DATA" >"$FALLBACK_BASE/$HASH.path"
    ln -sfn -- "$real" "$DATA"
    REAL="$real"
}

pg_can_use() { pgrun test -d "$1" -a -w "$1" -a -x "$1" 2>/dev/null; }

prepare_data_dir() {
    mkdir -p -- "$PARENT"
    ((IS_ROOT)) && ensure_pg_os_user
    if [[ -L $DATA ]]; then
        resolve_real
        if [[ ! -d $REAL ]]; then
            log "recreating missing cluster directory $REAL (symlink target of $DATA)"
            mkdir -p -- "$REAL"
            own_for_pg "$REAL"
        fi
    elif [[ -e $DATA && ! -d $DATA ]]; then
        die "$DATA exists and is not a directory"
    else
        if [[ ! -d $DATA ]]; then
            mkdir -m 700 -- "$DATA"
        fi
        if ((IS_ROOT)) && [[ $(stat -c %U -- "$DATA") != "$PG_OS_USER" ]]; then
            dir_is_empty "$DATA" || die "$DATA is not empty and not owned by $PG_OS_USER; refusing to touch it"
            own_for_pg "$DATA"
        fi
        REAL="$DATA"
        if ((IS_ROOT)) && ! pg_can_use "$DATA"; then
            dir_is_empty "$DATA" || die "$PG_OS_USER cannot access non-empty $DATA"
            rmdir -- "$DATA"
            use_fallback_dir
        fi
    fi
    local who
    who="$(id -un)"
    ((IS_ROOT)) && who="$PG_OS_USER"
    pg_can_use "$REAL" || die "cannot write to cluster directory $REAL as $who"
}

have_c_utf8() {
    command -v locale >/dev/null 2>&1 && locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'
}

init_cluster() {
    [[ -f $REAL/PG_VERSION ]] && return 0
    local locale_args=(--locale=C.UTF-8) out
    if ! have_c_utf8; then
        log "locale C.UTF-8 not available; using --no-locale"
        locale_args=(--no-locale)
    fi
    log "initialising PostgreSQL $(bin_major) cluster in $REAL"
    if ! out="$(pgrun "$BINDIR/initdb" -D "$REAL" -U "$DB_USER" --auth=trust --encoding=UTF8 "${locale_args[@]}" 2>&1)"; then
        printf '%s\n' "$out" >&2
        die "initdb failed"
    fi
}

conf_quote() { printf "'%s'" "${1//\'/\'\'}"; }

# Writes $REAL/parley.conf (included from postgresql.conf). Returns 0 if changed.
write_config() {
    local conf="$REAL/parley.conf" sockdir="$REAL" content old=""
    # Unix socket paths are limited to 107 bytes; TCP is what we use anyway.
    if ((${#sockdir} + ${#PORT} + 11 > 107)); then
        log "data path too long for a Unix socket; Unix sockets disabled (TCP only)"
        sockdir=""
    fi
    content="# Managed by scripts/pg.sh; rewritten on every start. Do not edit.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = $(conf_quote "$sockdir")
max_connections = 200
shared_buffers = 256MB
# Parley's tables grow fast (a broadcast adds 100,000 recipients, jobs and messages in a minute):
# look for tables to analyze every 5 s rather than every minute, so plans follow their size.
autovacuum_naptime = 5s"
    if ((FAST)); then
        content+="
# --fast: throwaway test cluster, durability off
fsync = off
synchronous_commit = off
full_page_writes = off"
    fi
    if [[ ${PARLEY_PG_STATS:-0} == 1 ]]; then
        content+="
# PARLEY_PG_STATS=1: per-statement counts and times (pg_stat_statements), for profiling
shared_preload_libraries = 'pg_stat_statements'
track_io_timing = on"
    fi
    if ! grep -q "^include_if_exists = 'parley.conf'" "$REAL/postgresql.conf"; then
        printf "\n# Parley settings (scripts/pg.sh)\ninclude_if_exists = 'parley.conf'\n" |
            pgrun tee -a "$REAL/postgresql.conf" >/dev/null
    fi
    [[ -f $conf ]] && old="$(cat -- "$conf")"
    [[ $old == "$content" ]] && return 1
    printf '%s\n' "$content" | pgrun tee "$conf" >/dev/null
    return 0
}

create_database() {
    local exists
    exists="$("$(pgbin psql)" -X -h 127.0.0.1 -p "$PORT" -U "$DB_USER" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'")"
    if [[ $exists != 1 ]]; then
        log "creating database $DB_NAME"
        "$(pgbin createdb)" -h 127.0.0.1 -p "$PORT" -U "$DB_USER" "$DB_NAME"
    fi
}

lock() {
    command -v flock >/dev/null 2>&1 || return 0
    [[ -d $PARENT ]] || return 0
    exec 9>>"$PARENT/.$(basename -- "$DATA").lock"
    flock -w 300 9 || die "timed out waiting for another pg.sh on $DATA"
}

# ---------------------------------------------------------------- commands --
cmd_start() {
    if ! find_bindir; then
        install_postgres
        find_bindir || die "PostgreSQL server binaries still not found after installing"
    fi
    mkdir -p -- "$PARENT"
    lock
    prepare_data_dir
    match_cluster_version
    init_cluster
    local changed=0
    write_config && changed=1
    local log_file="$REAL/server.log"
    if is_running; then
        if ((changed)); then
            log "settings changed; restarting server for $DATA"
            pgrun "$BINDIR/pg_ctl" -D "$REAL" -m fast -w -t 60 -l "$log_file" restart >&2 || {
                tail -n 30 "$log_file" >&2 || true
                die "pg_ctl restart failed (log: $log_file)"
            }
        else
            log "already running ($DATA, port $PORT)"
        fi
    else
        clear_stale_pidfile
        log "starting server ($DATA, port $PORT$( ((FAST)) && echo ', fast'))"
        pgrun "$BINDIR/pg_ctl" -D "$REAL" -w -t 60 -l "$log_file" start >&2 || {
            tail -n 30 "$log_file" >&2 || true
            die "pg_ctl start failed (log: $log_file)"
        }
    fi
    wait_ready
    create_database
    log "ready: postgres://$DB_USER@127.0.0.1:$PORT/$DB_NAME"
}

cmd_stop() {
    if [[ ! -f $REAL/PG_VERSION ]]; then
        log "no cluster at $DATA"
        return 0
    fi
    find_bindir || die "PostgreSQL binaries not found"
    match_cluster_version
    lock
    if is_running; then
        pgrun "$BINDIR/pg_ctl" -D "$REAL" -m fast -w -t 60 stop >&2
    else
        log "not running ($DATA)"
    fi
}

cmd_status() {
    if [[ ! -f $REAL/PG_VERSION ]]; then
        log "no cluster at $DATA"
        exit 4
    fi
    find_bindir || die "PostgreSQL binaries not found"
    match_cluster_version
    if is_running; then
        local where="$DATA"
        [[ $REAL != "$DATA" ]] && where="$DATA -> $REAL"
        log "running: pid $(head -n1 "$(pid_file)"), port $(pidfile_port), data $where"
        exit 0
    fi
    log "not running ($DATA)"
    exit 3
}

cmd_destroy() {
    if [[ -f $REAL/PG_VERSION ]]; then
        cmd_stop
    elif [[ -d $REAL ]] && ! dir_is_empty "$REAL"; then
        die "$REAL does not look like a PostgreSQL cluster; refusing to delete it"
    fi
    if [[ -f $REAL/PG_VERSION ]] && is_running; then
        die "server still running; not deleting $REAL"
    fi
    log "deleting $DATA$([[ $REAL != "$DATA" ]] && echo " -> $REAL")"
    rm -rf -- "$REAL"
    if [[ -L $DATA ]]; then rm -f -- "$DATA"; fi
    if [[ $REAL == "$FALLBACK_BASE/"* ]]; then
        rm -f -- "$FALLBACK_BASE/$HASH.path"
        rmdir -- "$FALLBACK_BASE" 2>/dev/null || true
    fi
    rm -f -- "$PARENT/.$(basename -- "$DATA").lock"
}

case "$CMD" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    destroy) cmd_destroy ;;
esac
