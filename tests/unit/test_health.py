"""Heartbeat warnings name where they went, never the credentials or the check's secret path (issue 12)."""

import http.server
import threading

import pytest

from checkniner_backup import health
from checkniner_backup.backup.result import RunResult

SECRETS = ("hc-user", "Pa55-w0rd", "0f1e2d3c-uuid")


@pytest.mark.parametrize(
    "url, shown",
    [
        ("https://hc-user:Pa55-w0rd@hc.example/ping/0f1e2d3c-uuid", "https://hc.example/..."),
        ("https://hc-user:Pa55-w0rd@hc.example:8443", "https://hc.example:8443"),
        ("https://hc-user@hc.example/0f1e2d3c-uuid?k=Pa55-w0rd", "https://hc.example/..."),
        ("https://hc.example/ping/0f1e2d3c-uuid", "https://hc.example/..."),
        ("hc-user:Pa55-w0rd@hc.example/0f1e2d3c-uuid", "the heartbeat URL"),
    ],
)
def test_safe_drops_credentials_and_path(url, shown):
    assert health._safe(url) == shown


def result(outcome="saved"):
    return RunResult(outcome=outcome, exit_code=0 if outcome != "failed" else 1)


@pytest.mark.parametrize(
    "url",
    [
        "http://hc-user:Pa55-w0rd@127.0.0.1/0f1e2d3c-uuid",  # http.client: "nonnumeric port: 'Pa55-w0rd@127.0.0.1'"
        "http://hc-user:Pa55-w0rd@127.0.0.1:{port}/0f1e2d3c-uuid",
        "hc-user:Pa55-w0rd@127.0.0.1/0f1e2d3c-uuid",  # no scheme: "unknown url type: '...'"
        "http://hc-user:Pa55-w0rd@no-such-host.invalid/0f1e2d3c-uuid",
    ],
)
def test_every_heartbeat_warning_is_free_of_credentials(url, unused_port):
    warning = health.ping(url.format(port=unused_port), True, result().line(), "saved", timeout=2)
    assert warning and warning.startswith("heartbeat "), warning
    for secret in SECRETS:
        assert secret not in warning, warning


def test_a_refusing_receiver_warning_is_free_of_credentials():
    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the stdlib's spelling
            self.send_response(403)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        warning = health.ping(
            f"http://127.0.0.1:{server.server_port}/ping/0f1e2d3c-uuid", True, result().line(), "saved"
        )
    finally:
        server.shutdown()
    assert warning == f"heartbeat to http://127.0.0.1:{server.server_port}/... failed: Forbidden", warning


@pytest.fixture
def unused_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_basic_auth_credentials_of_the_url_reach_the_receiver_as_a_header():
    """urllib takes user:password@host for the host: a receiver behind basic auth never got a ping (issue 12)."""
    import base64

    receiver = Receiver()
    try:
        # a password with percent-encoded ':' and '@' is sent decoded, as a browser or curl would
        url = f"http://hc-user:Pa55%3Aw0rd%40x@127.0.0.1:{receiver.port}/ping/0f1e2d3c-uuid"
        warning = health.ping(url, False, result("failed").line(), "failed")
    finally:
        receiver.close()
    assert warning is None, warning
    expected = "Basic " + base64.b64encode(b"hc-user:Pa55:w0rd@x").decode()
    assert receiver.seen == [("POST", "/ping/0f1e2d3c-uuid/fail", expected, f"127.0.0.1:{receiver.port}")]


class Receiver:
    """A local HTTP server recording (method, path, Authorization, Host); answers `status`, with a Location."""

    def __init__(self, status=200, location=None):
        self.seen = []
        seen = self.seen

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                seen.append((self.command, self.path, self.headers.get("Authorization"), self.headers.get("Host")))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_so_the_credentials_stay_with_the_receiver(status):
    """urllib followed a 301/302/303 to any host with the Authorization header, as a GET without the job's line."""
    elsewhere = Receiver()
    receiver = Receiver(status, location=f"http://127.0.0.1:{elsewhere.port}/collect/0f1e2d3c-uuid")
    try:
        url = f"http://hc-user:Pa55-w0rd@127.0.0.1:{receiver.port}/ping/0f1e2d3c-uuid"
        warning = health.ping(url, True, result().line(), "saved", timeout=2)
    finally:
        receiver.close()
        elsewhere.close()
    assert elsewhere.seen == []
    assert len(receiver.seen) == 1
    assert warning == (
        f"heartbeat to http://127.0.0.1:{receiver.port}/... failed: HTTP {status} redirect, not followed:"
        " set the URL it points to"
    )


@pytest.mark.parametrize("password", ["Pa55/w0rd", "Pa55?w0rd", "Pa55#w0rd"], ids=["slash", "question-mark", "hash"])
def test_a_password_that_breaks_the_url_sends_nothing_and_quotes_nothing(password):
    """https://u:pa/ss@host/ping: urllib would ask host 'u' port 'pa', and its error quoted the fragment."""
    receiver = Receiver()
    try:
        url = f"http://hc-user:{password}@127.0.0.1:{receiver.port}/ping/0f1e2d3c-uuid"
        warning = health.ping(url, True, result().line(), "saved", timeout=2)
    finally:
        receiver.close()
    assert receiver.seen == []
    assert warning.startswith("heartbeat not sent: its URL cannot be parsed"), warning
    for piece in ("hc-user", "Pa55", "w0rd", "0f1e2d3c"):
        assert piece not in warning
