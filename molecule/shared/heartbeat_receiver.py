#!/usr/bin/env python3
"""A heartbeat receiver (healthchecks.io style) on the controller, reached from the containers as
http://host.containers.internal:PORT. Every request is answered 200 and written to OUT as one line:

    METHOD | PATH | AUTHORIZATION-HEADER | X-Checkniner-Outcome | BODY

    heartbeat_receiver.py start OUT PORT     # in the background, until `stop`
    heartbeat_receiver.py stop OUT

The default scenario configures heartbeat URLs that hold secrets (basic-auth password, token path): its verify step
proves the pings arrived (the secrets were really in use) and that no command line or log ever showed them.
"""

import http.server
import os
import signal
import sys


def serve(out, port):
    class Handler(http.server.BaseHTTPRequestHandler):
        def _record(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace").replace("\n", " ") if length else ""
            fields = (
                self.command,
                self.path,
                self.headers.get("Authorization", "-"),
                self.headers.get("X-Checkniner-Outcome", "-"),
                body,
            )
            with open(out, "a", encoding="utf-8") as handle:
                handle.write(" | ".join(fields) + "\n")
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        do_GET = do_POST = do_HEAD = _record

        def log_message(self, *args):  # the requests are in OUT; stderr stays quiet
            pass

    http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()


def stop(pidfile):
    try:
        with open(pidfile) as handle:
            os.kill(int(handle.read()), signal.SIGTERM)
    except (OSError, ValueError):
        pass


def main(command, out, port=None):
    pidfile = out + ".pid"
    if command == "start":
        stop(pidfile)  # one left by an interrupted scenario would hold the port
        open(out, "w").close()  # and its requests must not count for this run
        if os.fork():
            return
        os.setsid()
        with open(pidfile, "w") as handle:
            handle.write(str(os.getpid()))
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # so that Ansible's command task does not wait on our pipes
            os.dup2(devnull, fd)
        serve(out, int(port))
    elif command == "stop":
        stop(pidfile)


if __name__ == "__main__":
    main(*sys.argv[1:4])
