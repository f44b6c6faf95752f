#!/usr/bin/env bash
# Installs what is missing and starts what is not running: FerretDB 1.24.2 (SQLite backend) on
# 127.0.0.1:27017 and Redis on 127.0.0.1:6379. Idempotent: safe to run any number of times.
# Usage: scripts/services.sh [up|down|status]   (default: up)
set -euo pipefail

FERRETDB_VERSION=v1.24.2
MONGO_PORT=${OTAGUARD_MONGO_PORT:-27017}
REDIS_PORT=${OTAGUARD_REDIS_PORT:-6379}
DATA_DIR=${OTAGUARD_DATA_DIR:-${TMPDIR:-/tmp}/otaguard-ferretdb}

log() { printf '[services] %s\n' "$*" >&2; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
  local port=$1 name=$2
  for _ in $(seq 1 100); do listening "$port" && return 0; sleep 0.1; done
  log "$name did not start listening on $port"; return 1
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# `go install …@v1.24.2` alone yields a binary that panics at start-up: the module zip lacks the
# generated build/version/version.txt. So we build from the module source with that file written.
FERRETDB_BIN=${OTAGUARD_FERRETDB_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/otaguard/bin/ferretdb-$FERRETDB_VERSION}

ferretdb_bin() {
  if [ -x "$FERRETDB_BIN" ]; then echo "$FERRETDB_BIN"; return; fi
  command -v go >/dev/null 2>&1 || { log "Go is required to build FerretDB"; exit 1; }
  log "building FerretDB $FERRETDB_VERSION from the Go module proxy (first run only)"
  local src work
  src=$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src" ] || { log "go mod download of FerretDB failed"; exit 1; }
  work=$(mktemp -d)
  cp -r "$src/." "$work/" && chmod -R u+w "$work"
  echo "$FERRETDB_VERSION" >"$work/build/version/version.txt"
  mkdir -p "$(dirname "$FERRETDB_BIN")"
  (cd "$work" && go build -o "$FERRETDB_BIN.tmp" ./cmd/ferretdb) >&2
  mv "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
  rm -rf "$work"
  echo "$FERRETDB_BIN"
}

# The WAL checkpointer (scripts/ferretdb-checkpointer, opt-in: OTAGUARD_WAL_CHECKPOINTER=1): a small Go
# program, built once per version of its source into the same cache. It uses the SQLite of FerretDB's own
# go.mod, so the module download and most of the build are shared with FerretDB's.
CHECKPOINTER_SRC=$(dirname "$0")/ferretdb-checkpointer

checkpointer_bin() {
  local hash bin
  hash=$(cat "$CHECKPOINTER_SRC/main.go" "$CHECKPOINTER_SRC/go.mod" "$CHECKPOINTER_SRC/go.sum" | sha256sum | cut -c1-12)
  bin=${XDG_CACHE_HOME:-$HOME/.cache}/otaguard/bin/ferretdb-checkpointer-$hash
  if [ ! -x "$bin" ]; then
    command -v go >/dev/null 2>&1 || return 1
    log "building the FerretDB WAL checkpointer (first run only)"
    mkdir -p "$(dirname "$bin")"
    (cd "$CHECKPOINTER_SRC" && go build -o "$bin.tmp" .) >&2 || return 1
    mv "$bin.tmp" "$bin"
  fi
  echo "$bin"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_checkpointer() {
  local bin=$1
  alive "$DATA_DIR/checkpointer.pid" && return 0
  nohup "$bin" -dir "$DATA_DIR" >>"$DATA_DIR/checkpointer.log" 2>&1 &
  echo $! >"$DATA_DIR/checkpointer.pid"
  log "WAL checkpointer started beside FerretDB"
}

redis_bin() {
  if command -v redis-server >/dev/null 2>&1; then command -v redis-server; return; fi
  log "installing redis-server from Debian (first run only)"
  as_root apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq redis-server >&2
  command -v redis-server
}

up() {
  if listening "$REDIS_PORT"; then
    log "redis already listening on $REDIS_PORT"
  else
    local redis; redis=$(redis_bin)
    "$redis" --daemonize yes --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
      --maxmemory-policy noeviction --logfile "${TMPDIR:-/tmp}/otaguard-redis.log" >&2
    wait_for "$REDIS_PORT" redis
    log "redis started on $REDIS_PORT"
  fi

  if listening "$MONGO_PORT"; then
    log "MongoDB-compatible server already listening on $MONGO_PORT"
    # Ours, started with the checkpointer: bring the checkpointer back if it stopped.
    if alive "$DATA_DIR/ferretdb.pid" && [ -f "$DATA_DIR/checkpointer.wanted" ]; then
      local bin; bin=$(checkpointer_bin) && start_checkpointer "$bin"
    fi
  else
    local ferret; ferret=$(ferretdb_bin)
    mkdir -p "$DATA_DIR"
    # Tuned for an insert-heavy load (README, "FerretDB settings"): SQLite keeps statement journals in
    # memory and checkpoints the WAL every 100 pages instead of 1,000 (smaller, more even pauses); Go
    # collects garbage only when the heap nears 128 MiB (GOGC=off, GOMEMLIMIT), not at every 5x growth of
    # a live heap of only a few MB. With OTAGUARD_WAL_CHECKPOINTER=1, checkpoints run in a separate
    # process instead (README, "The WAL checkpointer"), and SQLite's own every 1,000 pages is a backstop.
    local checkpointer='' autocheckpoint=100
    rm -f "$DATA_DIR/checkpointer.wanted"
    if [ "${OTAGUARD_WAL_CHECKPOINTER:-0}" = 1 ]; then
      if checkpointer=$(checkpointer_bin); then
        autocheckpoint=1000
        touch "$DATA_DIR/checkpointer.wanted"
      else
        checkpointer=''
        log "could not build the WAL checkpointer; FerretDB checkpoints in its commits (every 100 pages)"
      fi
    fi
    local pragmas="?_pragma=temp_store(memory)&_pragma=wal_autocheckpoint($autocheckpoint)"
    GOGC=off GOMEMLIMIT=128MiB nohup "$ferret" --handler=sqlite --sqlite-url="file:$DATA_DIR/$pragmas" --state-dir="$DATA_DIR" \
      --listen-addr="127.0.0.1:$MONGO_PORT" --telemetry=disable --log-level=warn --debug-addr=- \
      >"$DATA_DIR/ferretdb.log" 2>&1 &
    echo $! >"$DATA_DIR/ferretdb.pid"
    wait_for "$MONGO_PORT" ferretdb || { tail -n 20 "$DATA_DIR/ferretdb.log" >&2; exit 1; }
    log "FerretDB started on $MONGO_PORT (data in $DATA_DIR)"
    if [ -n "$checkpointer" ]; then start_checkpointer "$checkpointer"; fi
  fi
}

down() {
  for name in checkpointer ferretdb; do
    if [ -f "$DATA_DIR/$name.pid" ]; then kill "$(cat "$DATA_DIR/$name.pid")" 2>/dev/null || true; rm -f "$DATA_DIR/$name.pid"; fi
  done
  rm -f "$DATA_DIR/checkpointer.wanted"
  if command -v redis-cli >/dev/null 2>&1; then redis-cli -p "$REDIS_PORT" shutdown nosave 2>/dev/null || true; fi
}

status() {
  listening "$MONGO_PORT" && log "mongo: up ($MONGO_PORT)" || log "mongo: down"
  alive "$DATA_DIR/checkpointer.pid" && log "WAL checkpointer: up" || log "WAL checkpointer: not running"
  listening "$REDIS_PORT" && log "redis: up ($REDIS_PORT)" || log "redis: down"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 [up|down|status]" >&2; exit 2 ;;
esac
