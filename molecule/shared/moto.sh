#!/usr/bin/env bash
# The Molecule scenarios' S3 endpoint: a moto server on the controller, reached from the
# containers as http://host.containers.internal:$MOLECULE_S3_PORT.
#   molecule/shared/moto.sh start|stop|status
set -euo pipefail
PORT="${MOLECULE_S3_PORT:-5599}"
RUN_DIR="${TMPDIR:-/tmp}/checkniner-molecule-moto-$PORT"
PIDFILE="$RUN_DIR/moto.pid"
PYTHON="${PYTHON:-$(command -v python3)}"

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "${1:-}" in
  start)
    if running; then echo "moto already running on port $PORT (pid $(cat "$PIDFILE"))"; exit 0; fi
    mkdir -p "$RUN_DIR"
    # Path-style only: containers call it as host.containers.internal, which is no bucket subdomain.
    S3_IGNORE_SUBDOMAIN_BUCKETNAME=true nohup "$PYTHON" -m moto.server -H 0.0.0.0 -p "$PORT" >"$RUN_DIR/moto.log" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 50); do
      if "$PYTHON" -c "import socket,sys; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null; then
        echo "moto listening on 0.0.0.0:$PORT (pid $(cat "$PIDFILE"), log $RUN_DIR/moto.log)"
        exit 0
      fi
      running || break
      sleep 0.2
    done
    echo "moto did not start on port $PORT; see $RUN_DIR/moto.log" >&2
    cat "$RUN_DIR/moto.log" >&2 || true
    exit 1
    ;;
  stop)
    if running; then kill "$(cat "$PIDFILE")"; echo "moto stopped (port $PORT)"; fi
    rm -f "$PIDFILE"
    ;;
  status)
    if running; then echo "running (pid $(cat "$PIDFILE"), port $PORT)"; else echo "stopped"; exit 1; fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
