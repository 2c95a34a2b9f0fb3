#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on a loopback port and print its SQLAlchemy URL (the only line on stdout).
#
#   export TEXTENVS_TEST_POSTGRES_URL="$(scripts/start_postgres.sh)"
#
# Options:
#   --dir DIR       cluster directory (default: a new temporary directory); stop it with
#                   scripts/start_postgres.sh --stop DIR
#   --port PORT     port on 127.0.0.1 (default: a free one)
#   --no-install    fail instead of installing Debian's postgresql package when it is missing
#   --stop DIR      stop the cluster in DIR and remove DIR
# Runs the server as the 'postgres' user when started as root (PostgreSQL refuses to run as root).
# Progress and errors go to stderr; the exit status is non-zero when no server could be started.
set -euo pipefail

dir="" port="" install=1 stop=""
while (($#)); do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --no-install) install=0; shift ;;
    --stop) stop="$2"; shift 2 ;;
    *) echo "start_postgres.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

say() { echo "start_postgres.sh: $*" >&2; }

bindir() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n "$found" && -x "$found/initdb" ]]; then echo "$found"; return 0; fi
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
  return 1
}

as_owner() {
  # Run a command as the cluster owner: 'postgres' when we are root, ourselves otherwise.
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [[ -n "$stop" ]]; then
  bin=$(bindir) || { say "no PostgreSQL binaries found"; exit 1; }
  as_owner "$bin/pg_ctl" -D "$stop/data" -m immediate -w stop >&2 || true
  rm -rf "$stop"
  exit 0
fi

if ! bin=$(bindir); then
  if ((install)) && command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
    say "installing Debian's postgresql package"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2 \
      || { say "apt-get install postgresql failed"; exit 1; }
    bin=$(bindir) || { say "postgresql installed but initdb not found"; exit 1; }
  else
    say "PostgreSQL is not installed (apt-get install postgresql) and installing was not possible or not allowed"
    exit 1
  fi
fi

if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
  say "running as root but there is no 'postgres' user to run the server as"
  exit 1
fi

if [[ -z "$port" ]]; then
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
if [[ -z "$dir" ]]; then
  dir=$(mktemp -d "${TMPDIR:-/tmp}/textenvs-postgres.XXXXXX")
fi
mkdir -p "$dir"
if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir"; fi

as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 \
  || { say "initdb failed:"; tail -n 20 "$dir/initdb.log" >&2; exit 1; }
# Loopback TCP only; the socket lives in the cluster directory, so nothing system-wide is touched.
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on -c max_connections=200" start >&2 \
  || { say "the server did not start:"; tail -n 20 "$dir/server.log" >&2; exit 1; }
as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres leaderboard >&2 \
  || { say "createdb failed"; exit 1; }

say "$("$bin/postgres" --version) running on 127.0.0.1:$port (cluster $dir);" \
    "stop it with: $0 --stop $dir"
echo "postgresql+psycopg2://postgres@127.0.0.1:$port/leaderboard"
