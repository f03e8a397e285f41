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
    assert warning and warning.startswith("heartbeat to "), warning
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
    seen = []

    class Record(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the stdlib's spelling
            seen.append((self.path, self.headers.get("Authorization"), self.headers.get("Host")))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Record)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # a password with percent-encoded ':' and '@' is sent decoded, as a browser or curl would
        url = f"http://hc-user:Pa55%3Aw0rd%40x@127.0.0.1:{server.server_port}/ping/0f1e2d3c-uuid"
        warning = health.ping(url, False, result("failed").line(), "failed")
    finally:
        server.shutdown()
    assert warning is None, warning
    import base64

    expected = "Basic " + base64.b64encode(b"hc-user:Pa55:w0rd@x").decode()
    assert seen == [("/ping/0f1e2d3c-uuid/fail", expected, f"127.0.0.1:{server.server_port}")]
