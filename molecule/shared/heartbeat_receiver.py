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
import sys

import background  # molecule/shared/background.py, beside this script


def serve(out, port):
    class Handler(http.server.BaseHTTPRequestHandler):
        def _record(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace").replace("\n", " ") if length else ""
            path, _, query = self.path.partition("?")  # ?rid=<the job's run id>, the same on /start and the end
            fields = (
                self.command,
                path,
                self.headers.get("Authorization", "-"),
                self.headers.get("X-Checkniner-Outcome", "-"),
                body,
                query,
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


def main(command, out, port=None):
    if command == "start":
        background.stop(out)
        open(out, "w").close()  # an earlier run's requests must not count for this one
        background.start(out, lambda: serve(out, int(port)))
    elif command == "stop":
        background.stop(out)


if __name__ == "__main__":
    main(*sys.argv[1:4])
