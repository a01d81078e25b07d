#!/usr/bin/env bash
# A private PostgreSQL cluster for the tests (issue 17): Debian's
# `postgresql` package (installed when missing), a cluster in a temporary
# directory, owned by an unprivileged user (PostgreSQL refuses to run as
# root), on a free loopback port, fsync off for speed. Nothing of the
# machine's own PostgreSQL (its clusters, its port 5432) is touched.
#
#   eval "$(bash scripts/pg.sh start)"   # exports ARGUS_PG_URL, ARGUS_PG_DIR
#   psql "$ARGUS_PG_URL" -c 'select 1'
#   bash scripts/pg.sh pause "$ARGUS_PG_DIR"    # an outage (tests/cluster.rs)
#   bash scripts/pg.sh resume "$ARGUS_PG_DIR"
#   bash scripts/pg.sh stop "$ARGUS_PG_DIR"
set -euo pipefail

bin_dir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "pg.sh: installing Debian's postgresql" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
    d="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  fi
  echo "$d"
}

# Runs a command as the cluster's owner: this user, or (as root) `nobody`.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u nobody -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "${1:-}" in
  start)
    bin="$(bin_dir)"
    dir="$(mktemp -d /tmp/argus-pg.XXXXXX)"
    chmod 755 "$dir"
    [ "$(id -u)" -eq 0 ] && chown nobody "$dir"
    port="$(free_port)"
    as_owner "$bin/initdb" -D "$dir/data" -U argus --auth=trust --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    # The settings go into the cluster's own file, so that `resume` starts it as it was.
    printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n" \
      "$port" "$dir" | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U argus argus
    echo "export ARGUS_PG_URL=postgres://argus@127.0.0.1:$port/argus ARGUS_PG_DIR=$dir"
    ;;
  pause)
    # The database goes away (stopped, every connection cut; its files kept,
    # what was committed with them: the cluster runs with synchronous_commit
    # off, which a crash would not keep): `resume` brings it back.
    dir="${2:?give the directory of the cluster (ARGUS_PG_DIR)}"
    as_owner "$(bin_dir)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  resume)
    dir="${2:?give the directory of the cluster (ARGUS_PG_DIR)}"
    as_owner "$(bin_dir)/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    ;;
  stop)
    dir="${2:?give the directory of the cluster (ARGUS_PG_DIR)}"
    bin="$(bin_dir)"
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: bash scripts/pg.sh start | pause DIR | resume DIR | stop DIR" >&2
    exit 2
    ;;
esac
