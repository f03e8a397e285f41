"""Local HTTP servers for what the jobs send out: a receiver recording every heartbeat (path, body,
X-Checkniner-Outcome, run ID) like healthchecks.io receives, and every Apprise `json://` notification; and a dripping
endpoint that answers one byte at a time, as a broken or hostile one does."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Call(tuple):
    """(path, body, outcome) of one end ping, compared as that tuple; `.rid` is its ?rid= run ID (None: none)."""

    rid: str | None = None

    def __new__(cls, path, body, outcome, rid=None):
        call = super().__new__(cls, (path, body, outcome))
        call.rid = rid
        return call


class Receiver:
    """``calls``: the end pings (success or /fail) as Call; ``starts``: the run ID of each /start ping; ``pings``: every
    heartbeat in order, /start included; ``notifications``: the JSON documents Apprise posted to ``notify_url``."""

    def __init__(self, path: str = "/ping/0f4c-uuid"):
        self.calls, self.starts, self.pings, self.notifications = [], [], [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                parts = urlsplit(self.path)
                if parts.path.startswith("/notify"):
                    receiver.notifications.append(json.loads(body))
                else:
                    rid = parse_qs(parts.query).get("rid", [None])[0]
                    call = Call(parts.path, body, self.headers.get("X-Checkniner-Outcome"), rid)
                    receiver.pings.append(call)
                    if parts.path.endswith("/start"):
                        receiver.starts.append(rid)
                    else:
                        receiver.calls.append(call)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        port = self.server.server_port
        self.url = f"http://127.0.0.1:{port}{path}"
        # Apprise's json:// posts {"title", "message", "type", ...} to http://HOST:PORT/PATH
        self.notify_url = f"json://127.0.0.1:{port}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Dripping:
    """An endpoint that reads the request, then sends its answer one byte every `interval` seconds, for ever: each
    read of the client's gets a byte before its socket timeout, so only a whole-request deadline ends the request.
    ``hits`` counts the requests it got."""

    def __init__(self, interval: float = 3.0):
        self.hits = 0
        self.stopped = threading.Event()
        dripping = self

        class Handler(BaseHTTPRequestHandler):
            def _drip(self):
                dripping.hits += 1
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"." * 1000000:
                        if dripping.stopped.wait(interval):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                except OSError:
                    pass  # the client gave up: what it should do

            do_POST = do_GET = _drip  # noqa: N815 - http.server's naming

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.url = f"{self.base}/ping/drip-uuid"
        self.notify_url = f"json://127.0.0.1:{self.server.server_port}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()


def closed_port_url() -> str:
    """A URL nothing listens on (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def wait_for(predicate, timeout: float = 5.0):
    """Poll until predicate() is true (a server thread records a request a moment after the client is done)."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()
