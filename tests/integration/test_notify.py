"""No failure goes unheard (issue 21): a failing run, drill and prune each notify once through Apprise (a json://
URL to a local receiver) naming the job and the reason, then once more when they recover; routine successes and a
repeated failure within the day notify nothing; no secret in any notification. Heartbeats: /start, then the end with
the same rid. A dripping endpoint does not hold a job."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from support.heartbeat import Dripping, closed_port_url

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TOKEN = "N0tify-t0ken-path"  # the notification URL's own secret part


def secrets(env):
    found = {env["S3_SECRET_KEY"], TOKEN, "0f4c-uuid"}
    password = unquote(urlsplit(env["DATABASE_URL"]).password or "")
    assert password, "the test database URL has a password to leak"
    return found | {password}


def assert_clean(receiver, env):
    """No secret in any notification, nor in any heartbeat's body."""
    for text in [json.dumps(doc) for doc in receiver.notifications] + [ping[1] for ping in receiver.pings]:
        for secret in secrets(env):
            assert secret not in text, (secret, text)


@pytest.fixture(autouse=True)
def _every_run_asks_its_store(backup_env):
    """No probe interval: an unreachable store fails an unchanged run, the failure most tests here need."""
    backup_env["CHECKNINER_PROBE_INTERVAL"] = "0"


@pytest.fixture
def notified(receiver, backup_env):
    """(env that notifies receiver and pings it, the receiver)."""
    env = {"CHECKNINER_NOTIFY_URLS": f"{receiver.notify_url}/{TOKEN}"}
    return env, receiver


def titles(receiver):
    return [doc["title"] for doc in receiver.notifications]


def test_a_failing_run_notifies_once_then_its_recovery(run_cli, notified, backup_env):
    env, receiver = notified
    host = socket.gethostname()
    env = {**env, "CHECKNINER_BACKUP_HEALTHCHECK_URL": receiver.url}
    assert run_cli("run", env=env).returncode == 0
    # routine successes: nothing sent, and Apprise (half a second of imports) not even loaded
    quiet = run_cli("run", env={**env, "PYTHONPROFILEIMPORTTIME": "1"})
    assert quiet.returncode == 0 and "checkniner_backup.notify\n" in quiet.stderr, quiet.stderr[-2000:]
    assert "apprise" not in quiet.stderr
    assert receiver.notifications == []

    down = {**env, "S3_ENDPOINT_URL": closed_port_url()}
    first = run_cli("run", env=down)
    assert first.returncode == 1, first.stderr
    assert titles(receiver) == [f"checkniner-backup run FAILED on {host}"]
    doc = receiver.notifications[0]
    assert doc["type"] == "failure" and "S3 unreachable" in doc["message"]
    assert doc["message"].startswith(f"The backup run on {host} (database ")

    for _ in range(2):  # the same cause again within the day: nothing more
        assert run_cli("run", env=down).returncode == 1
    assert len(receiver.notifications) == 1

    back = run_cli("run", env=env)
    assert back.returncode == 0, back.stderr
    assert titles(receiver)[1:] == [f"checkniner-backup run recovered on {host}"]
    recovered = receiver.notifications[1]
    assert recovered["type"] == "success" and "works again: unchanged" in recovered["message"]
    assert run_cli("run", env=env).returncode == 0
    assert len(receiver.notifications) == 2
    assert_clean(receiver, backup_env)
    state = json.loads(Path(backup_env["CHECKNINER_BACKUP_DIR"], "state.json").read_text())
    assert state["notifications"]["jobs"] == {} and "undelivered_total" not in state["notifications"]


def test_a_failing_drill_notifies_once_then_its_recovery(run_cli, notified, backup_env):
    env, receiver = notified
    assert run_cli("run", env=env).returncode == 0
    assert run_cli("verify", env=env).returncode == 0
    assert receiver.notifications == []
    missing = ("verify", "--archive", "/nonexistent/2030-01-01T000000Z.tar.gz")
    failed = run_cli(*missing, env=env)
    assert failed.returncode == 2
    assert run_cli(*missing, env=env).returncode == 2
    assert len(receiver.notifications) == 1
    doc = receiver.notifications[0]
    assert doc["title"].startswith("checkniner-backup drill FAILED on ")
    assert (
        "restore drill (verify)" in doc["message"]
        and "no archive '/nonexistent/2030-01-01T000000Z.tar.gz'" in (doc["message"])
    )
    assert run_cli("verify", env=env).returncode == 0
    assert [d["type"] for d in receiver.notifications] == ["failure", "success"]
    assert receiver.notifications[1]["title"].startswith("checkniner-backup drill recovered on ")
    assert_clean(receiver, backup_env)


def test_a_failing_prune_notifies_once_then_its_recovery(run_cli, notified, backup_env):
    env, receiver = notified
    assert run_cli("run", env=env).returncode == 0
    assert run_cli("prune", env=env).returncode == 0
    down = {**env, "S3_ENDPOINT_URL": closed_port_url()}
    assert run_cli("prune", env=down).returncode == 1
    assert run_cli("prune", env=down).returncode == 1
    assert len(receiver.notifications) == 1
    doc = receiver.notifications[0]
    assert doc["title"].startswith("checkniner-backup prune FAILED on ") and "S3 unreachable" in doc["message"]
    assert run_cli("prune", env=env).returncode == 0
    assert [d["type"] for d in receiver.notifications] == ["failure", "success"]
    assert "prune recovered" in receiver.notifications[1]["title"]
    assert_clean(receiver, backup_env)


def test_an_undelivered_notification_is_a_warning_and_counted_never_a_failure(run_cli, backup_env):
    env = {"CHECKNINER_NOTIFY_URLS": f"json://127.0.0.1:{urlsplit(closed_port_url()).port}/notify/{TOKEN}"}
    down = {**env, "S3_ENDPOINT_URL": closed_port_url()}
    assert run_cli("run", env=env).returncode == 0
    failed = run_cli("run", env=down)
    assert failed.returncode == 1  # the run's own failure, not the notifier's
    warnings = [line for line in failed.stderr.splitlines() if "notification" in line]
    assert len(warnings) == 1 and "not delivered" in warnings[0] and TOKEN not in failed.stderr, failed.stderr
    ok = run_cli("run", env=env)
    assert ok.returncode == 0 and "notification" not in ok.stdout + ok.stderr  # nobody heard: no recovery to send
    state = json.loads(Path(backup_env["CHECKNINER_BACKUP_DIR"], "state.json").read_text())
    assert state["notifications"]["undelivered_total"] == 1


@pytest.mark.parametrize("job", ["run", "verify", "prune"])
def test_each_job_pings_start_then_its_end_with_the_same_rid(run_cli, receiver, job):
    var = {"run": "BACKUP", "verify": "VERIFY", "prune": "PRUNE"}[job]
    env = {f"CHECKNINER_{var}_HEALTHCHECK_URL": receiver.url}
    if job != "run":
        assert run_cli("run").returncode == 0
    assert run_cli(job, env=env).returncode == 0
    fail_args = {"run": (), "verify": ("--from", "s3"), "prune": ()}[job]
    assert run_cli(job, *fail_args, env={**env, "S3_ENDPOINT_URL": closed_port_url()}).returncode != 0
    assert [p[0] for p in receiver.pings] == [
        "/ping/0f4c-uuid/start", "/ping/0f4c-uuid", "/ping/0f4c-uuid/start", "/ping/0f4c-uuid/fail",
    ]  # fmt: skip
    rids = [p.rid for p in receiver.pings]
    assert all(UUID.match(rid) for rid in rids), rids
    assert rids[0] == rids[1] and rids[2] == rids[3] and rids[0] != rids[2]
    body = receiver.calls[-1][1]
    assert body.startswith("failed: ") and "S3 unreachable" in body


def test_a_dripping_endpoint_does_not_hold_a_failing_run(run_cli, backup_env):
    """Heartbeat and notification both to an endpoint that answers one byte every 3 s: the job ends within 15 s of
    its own work (measured without them, in the same test)."""
    assert run_cli("run").returncode == 0
    down = {"S3_ENDPOINT_URL": closed_port_url()}
    started = time.monotonic()
    assert run_cli("run", env=down).returncode == 1
    work = time.monotonic() - started
    drip = Dripping(interval=3)
    try:
        env = {**down, "CHECKNINER_BACKUP_HEALTHCHECK_URL": drip.url, "CHECKNINER_NOTIFY_URLS": drip.notify_url}
        # the measured failure had no URLs, so it notified nothing and remembered nothing: this one is due
        started = time.monotonic()
        held = run_cli("run", env=env, timeout=120)
        took = time.monotonic() - started
    finally:
        drip.close()
    assert held.returncode == 1, held.stderr
    assert took - work < 15, (took, work, held.stderr)
    assert drip.hits >= 1
    assert "no answer within 10 s" in held.stderr and "earlier in this job" in held.stderr
