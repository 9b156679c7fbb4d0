#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the shared-services tests (tests/harness/test_shared_services.py).
#
#   url=$(.ci/postgres.sh start DIR)   # installs PostgreSQL if missing, prints postgresql://...
#   .ci/postgres.sh stop DIR           # stops the cluster and removes DIR
#
# The cluster lives in DIR (an empty or missing folder), listens on 127.0.0.1 only, on a free port,
# with a random password. PostgreSQL refuses to run as root, so as root it runs as the `postgres`
# system user that the Debian package creates. Progress goes to stderr; stdout is the URL alone.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
dir=$2

# as the postgres user when we are root, else as ourselves
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bin() {
    # the newest installed major version (Debian keeps binaries off PATH)
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

install_postgres() {
    [ -n "$(pg_bin)" ] && return 0
    [ "$(id -u)" -eq 0 ] || { echo "postgres.sh: PostgreSQL is missing; install it as root" >&2; exit 1; }
    echo "postgres.sh: apt-get install postgresql" >&2
    # no default cluster on port 5432: this script makes its own (read by pg_createcluster)
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/no-main-cluster.conf
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
}

start() {
    local began=$SECONDS bin port password
    install_postgres
    bin=$(pg_bin)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    as_owner sh -c "umask 077 && echo '$password' > '$dir/pwfile'"
    as_owner "$bin/initdb" --pgdata="$dir/data" --username=harness --pwfile="$dir/pwfile" \
        --auth=scram-sha-256 --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    # TCP on 127.0.0.1 only; the Unix socket in DIR, not /var/run/postgresql (may not exist)
    as_owner "$bin/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait --silent \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off" \
        start || { cat "$dir/server.log" >&2; exit 1; }
    PGPASSWORD=$password "$bin/createdb" --host=127.0.0.1 --port="$port" --username=harness harness
    echo "postgres.sh: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port," \
        "ready in $((SECONDS - began)) s" >&2
    echo "postgresql://harness:$password@127.0.0.1:$port/harness"
}

stop() {
    local bin
    bin=$(pg_bin)
    if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bin/pg_ctl" --pgdata="$dir/data" --mode=fast --wait --silent stop || true
    fi
    rm -rf "$dir"
}

case $action in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
