"""The notification rule (notify.decide) on a fake clock, its memory in state.json, the whole-request deadline, and
the redaction of every secret of the configuration."""

import datetime as dt
import json
import subprocess
import sys
import time

import pytest
from support.heartbeat import Dripping, Receiver

from checkniner_backup import config as config_mod
from checkniner_backup import health, notify
from checkniner_backup.local import BackupDir
from checkniner_backup.state import State

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.timezone.utc)
DOWN = "failed: cannot connect to the database server at db.example:5432: connection refused"


class Clock:
    def __init__(self):
        self.now = T0

    def tick(self, **delta):
        self.now += dt.timedelta(**delta)
        return self.now


def sequence(events, delivered=True):
    """Feed (minutes after the previous event, ok, line) to decide as report does; the kinds it notified."""
    clock, memory, said = Clock(), {}, []
    for minutes, ok, line in events:
        kind, if_delivered, if_not = notify.decide(memory, ok, line, clock.tick(minutes=minutes))
        said.append(kind)
        memory = if_delivered if (delivered or not kind) else if_not
    return said


def test_a_failure_notifies_once_then_its_recovery():
    events = [(0, True, "saved"), (5, False, DOWN), (5, False, DOWN), (5, False, DOWN), (5, True, "saved")]
    assert sequence(events) == [None, "failed", None, None, "recovered"]


def test_routine_successes_notify_nothing():
    assert sequence([(5, True, "unchanged (precheck, 0.01s)")] * 10) == [None] * 10


def test_the_same_cause_is_repeated_once_a_day_not_every_five_minutes():
    # 24 hours of five-minute failures: one notification at the start, one when the day is over
    events = [(5, False, DOWN)] * (12 * 24 + 1)
    said = sequence(events)
    assert said[0] == "failed" and said[-1] == "failed" and said.count("failed") == 2


def test_numbers_do_not_make_another_cause_but_other_words_do():
    other = "failed: pg_dump failed: permission denied for table checkouts_checkout"
    renamed = DOWN.replace("5432", "5433")
    assert sequence([(5, False, DOWN), (5, False, renamed)]) == ["failed", None]
    assert sequence([(5, False, DOWN), (5, False, other), (5, False, other)]) == ["failed", "failed", None]


def test_an_undelivered_failure_is_tried_again_and_no_recovery_follows_news_never_heard():
    events = [(5, False, DOWN), (5, False, DOWN), (5, True, "saved")]
    assert sequence(events, delivered=False) == ["failed", "failed", None]


def test_a_recovery_after_a_failure_nobody_heard_of_sends_nothing():
    memory = {"failing": True, "cause": notify.cause_of(DOWN), "since": T0.isoformat(), "notified": None}
    assert notify.decide(memory, True, "saved", T0) == (None, {}, {})


def test_the_memory_lives_in_state_json_and_an_old_state_file_still_loads(tmp_path):
    bdir = BackupDir(str(tmp_path))
    (tmp_path / "state.json").write_text(json.dumps({"last_success": T0.isoformat()}))  # before notifications existed
    state = State.load(bdir, set_aside=True)
    assert state.warnings == [] and state.notification("run") == {}
    kind, memory, _ = notify.decide(state.notification("run"), False, DOWN, T0)
    state.set_notification("run", memory)
    state.count_undelivered(T0.isoformat())
    state.count_undelivered(T0.isoformat())
    state.save()
    again = State.load(bdir, set_aside=True)
    assert kind == "failed" and again.warnings == [] and again.notification("run") == memory
    assert again.doc["notifications"]["undelivered_total"] == 2
    assert notify.decide(again.notification("run"), False, DOWN, T0 + dt.timedelta(minutes=5))[0] is None


def test_a_malformed_notification_memory_sets_the_state_aside(tmp_path):
    bdir = BackupDir(str(tmp_path))
    (tmp_path / "state.json").write_text(json.dumps({"notifications": {"jobs": {"run": {"notified": "yesterday"}}}}))
    state = State.load(bdir, set_aside=True)
    assert "of the wrong shape (notifications)" in state.warnings[0]


def test_within_ends_a_call_that_outlasts_its_deadline():
    started = time.monotonic()
    with pytest.raises(notify.Late, match="no answer within 0.2 s"):
        notify.within(0.2, time.sleep, 30)
    assert time.monotonic() - started < 2
    assert notify.within(5, sum, [1, 2]) == 3
    with pytest.raises(ZeroDivisionError):  # the call's own error reaches the caller
        notify.within(5, lambda: 1 / 0)


SECRET_ENV = {
    "DATABASE_URL": "postgres://app:Db-Pa55word@db.example/checkniner",
    "S3_BUCKET_NAME": "bucket",
    "S3_ACCESS_KEY": "AKIAEXAMPLE",
    "S3_SECRET_KEY": "S3-s3cret-key",
    "CHECKNINER_BACKUP_HEALTHCHECK_URL": "https://hc.example/ping/0f1e2d3c-check-uuid",
    "CHECKNINER_NOTIFY_URLS": "mailtos://mailer:Ma1l-pw@mail.example  json://127.0.0.1:9/hook-Secret-path",
}


def test_redact_removes_every_secret_of_the_configuration():
    cfg = config_mod.load(SECRET_ENV)
    text = "; ".join(
        ["Db-Pa55word", "S3-s3cret-key", "0f1e2d3c-check-uuid", "Ma1l-pw", "hook-Secret-path", "mailer:Ma1l-pw"]
    )
    redacted = notify.redact(cfg, f"boom: {text} at {SECRET_ENV['DATABASE_URL']}")
    for secret in ("Db-Pa55word", "S3-s3cret-key", "0f1e2d3c-check-uuid", "Ma1l-pw", "hook-Secret-path"):
        assert secret not in redacted, redacted
    assert redacted.startswith("boom: ")


def test_the_message_names_host_job_and_reason_without_secrets():
    cfg = config_mod.load(SECRET_ENV)
    line = f"failed: S3 refused S3-s3cret-key for {SECRET_ENV['CHECKNINER_BACKUP_HEALTHCHECK_URL']}"
    title, body = notify.message(cfg, "run", "failed", line, {"since": T0.isoformat()}, host="app-1")
    assert title == "checkniner-backup run FAILED on app-1"
    assert body.startswith("The backup run on app-1 (database checkniner) failed: S3 refused ... for ")
    assert "S3-s3cret-key" not in body and "0f1e2d3c-check-uuid" not in body
    title, body = notify.message(cfg, "prune", "recovered", "local (...): kept 3, deleted 1", {}, host="app-1")
    assert title == "checkniner-backup prune recovered on app-1" and "works again: local" in body


def test_an_unknown_notification_url_is_a_warning_that_quotes_nothing():
    cfg = config_mod.load({**SECRET_ENV, "CHECKNINER_NOTIFY_URLS": "nosuchscheme://user:Pw-9x@host/Secret-path"})
    warnings = notify.report(cfg, None, "run", False, DOWN)
    assert len(warnings) == 1 and "not delivered" in warnings[0] and "not one Apprise understands" in warnings[0]
    assert "Pw-9x" not in warnings[0] and "Secret-path" not in warnings[0]


def test_nothing_is_decided_without_urls():
    cfg = config_mod.load({k: v for k, v in SECRET_ENV.items() if k != "CHECKNINER_NOTIFY_URLS"})
    assert notify.report(cfg, None, "run", False, DOWN) == []


def test_heartbeat_urls_carry_the_signal_and_the_run_id():
    base = "https://hc.example/ping/uuid/"
    assert health.heartbeat_url(base, True, "r-1", "start") == "https://hc.example/ping/uuid/start?rid=r-1"
    assert health.heartbeat_url(base, False, "r-1") == "https://hc.example/ping/uuid/fail?rid=r-1"
    assert health.heartbeat_url(base, True) == "https://hc.example/ping/uuid"
    assert health.heartbeat_url("https://h.example/p?k=v", True, "r-2") == "https://h.example/p?k=v&rid=r-2"


def test_a_dripping_endpoint_is_cut_off_at_the_deadline_and_not_asked_again(monkeypatch):
    """Each read gets a byte before its socket timeout: only the whole deadline ends the request."""
    monkeypatch.setattr(notify, "_LATE", set())
    drip = Dripping(interval=0.3)
    try:
        started = time.monotonic()
        warning = health.ping(drip.url, True, "saved", "saved", timeout=1, deadline=1.5)
        took = time.monotonic() - started
        again = health.ping(drip.url, False, "failed: x", "failed", timeout=1, deadline=1.5)
        took_again = time.monotonic() - started - took
    finally:
        drip.close()
    assert warning == f"heartbeat to {drip.base}/... failed: no answer within 1.5 s"
    assert 1.4 < took < 3 and drip.hits == 1
    assert again == f"heartbeat to {drip.base}/... not sent: it did not answer within 1.5 s earlier in this job"
    assert took_again < 0.5 and drip.hits == 1


def test_a_long_log_is_sent_as_its_last_whole_lines_within_100_kb():
    receiver = Receiver()
    try:
        log = "\n".join(f"warning: line {i} é" for i in range(20000))  # ~400 kB
        assert health.ping(receiver.url, False, log, "failed", rid="r-1") is None
    finally:
        receiver.close()
    (call,) = receiver.calls
    body = call[1].encode("utf-8")
    assert len(body) <= health.BODY_LIMIT and call[1].endswith("warning: line 19999 é")
    assert call[1].startswith("warning: line ") and call.rid == "r-1" and call[0] == "/ping/0f4c-uuid/fail"


def test_a_notification_to_dripping_endpoints_ends_at_its_deadline_and_so_does_the_process():
    """Apprise sends from a thread pool the interpreter joins at exit: left on a dripping endpoint in-process, a
    thread would keep the job alive after send() gave up. The notifier is a child process, killed at the deadline."""
    first, second = Dripping(interval=0.5), Dripping(interval=0.5)
    code = (
        "import time\n"
        "from checkniner_backup import config, notify\n"
        f"cfg = config.load({{'DATABASE_URL': 'postgres://u:p@h/db', 'CHECKNINER_NOTIFY_URLS': "
        f"'{first.notify_url} {second.notify_url}'}})\n"
        "print(notify.send(cfg, 'title', 'body', 'failed', deadline=2))\n"
    )
    try:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
    finally:
        first.close()
        second.close()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"notification to json://127.0.0.1:{first.server.server_port}, json://127.0.0.1:{second.server.server_port}"
        " not delivered: no answer within 2 s"
    )
    assert took < 6, took
