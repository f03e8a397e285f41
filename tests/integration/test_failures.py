"""Any failure is a failed run (issue 13): a full disk, a bug, a malformed state.json. Each gives one line, the /fail
heartbeat, metrics and state.json saying failed, and the outbox is still flushed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.django_project import manage
from support.heartbeat import closed_port_url

LINE = re.compile(r"^\S+Z checkniner-backup run: ")


def first_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines and LINE.match(lines[0]), text
    return LINE.sub("", lines[0])


def run_results(path):
    families = {f.name: f for f in text_string_to_metric_families(Path(path).read_text())}
    return {s.labels["result"]: s.value for s in families["checkniner_backup_last_run_result"].samples}


@pytest.fixture
def tiny_dir(tmp_path):
    """A 2 MB tmpfs (mount needs root; skipped elsewhere)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mnt)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(directory, leave):
    """Fill the file system of `directory` up to `leave` bytes free."""
    st = os.statvfs(directory)
    free = st.f_bavail * st.f_frsize
    with open(directory / "filler", "wb") as handle:
        handle.write(b"\0" * max(0, free - leave))
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def test_full_disk_is_one_line_fail_ping_metrics_and_state_say_failed(run_cli, app_db, tiny_dir, receiver, tmp_path):
    metrics = tmp_path / "metrics.prom"
    env = {
        "CHECKNINER_BACKUP_DIR": str(tiny_dir / "backups"),
        "CHECKNINER_BACKUP_HEALTHCHECK_URL": receiver.url,
        "CHECKNINER_BACKUP_METRICS_FILE": str(metrics),
    }
    # the first archive waits in the outbox (S3 is down): the failing run must still send it
    first = run_cli("run", env={**env, "S3_ENDPOINT_URL": closed_port_url()})
    assert first.returncode == 1 and "saved " in first.stderr, first.stderr
    (name,) = [p.name for p in (tiny_dir / "backups").glob("*.tar.gz") if p.name != "latest.tar.gz"]
    # room for state.json, not for a snapshot's members
    assert fill(tiny_dir, leave=48 * 1024) < 64 * 1024
    manage(["mutate_business"], app_db.url)

    result = run_cli("run", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    line = first_line(result.stderr)
    assert re.match(r"failed: .*no space left on (the )?device", line, re.IGNORECASE), line
    assert f"uploaded {name}" in line  # the outbox was flushed all the same
    assert "Traceback" not in result.stderr  # a condition of the machine, not a bug
    assert [c[0] for c in receiver.calls][-1] == "/ping/0f4c-uuid/fail"
    assert receiver.calls[-1][1] == line and receiver.calls[-1][2] == "failed"
    assert run_results(metrics) == {"saved": 0, "unchanged": 0, "failed": 1, "busy": 0}
    state = json.loads((tiny_dir / "backups" / "state.json").read_text())
    assert state["last_run"]["outcome"] == "failed" and state["last_run"]["error"] in line
    assert not list((tiny_dir / "backups").glob(".work-*"))  # the partial members are gone
    assert [p.name for p in (tiny_dir / "backups").glob("*.tar.gz") if p.name != "latest.tar.gz"] == [name]

    (tiny_dir / "filler").unlink()  # space again: the next run saves
    again = run_cli("run", env=env)
    assert again.returncode == 0 and "saved " in again.stdout, again.stderr
    assert run_results(metrics)["saved"] == 1


def test_an_unexpected_exception_is_a_failed_run_with_its_traceback_after_the_line(
    backup_env, receiver, monkeypatch, capsys, tmp_path
):
    from checkniner_backup import cli
    from checkniner_backup.backup import command

    def broken(*_args, **_kwargs):
        raise KeyError("members")

    monkeypatch.setattr(command, "take", broken)
    metrics = tmp_path / "metrics.prom"
    env = dict(backup_env, CHECKNINER_BACKUP_HEALTHCHECK_URL=receiver.url, CHECKNINER_BACKUP_METRICS_FILE=str(metrics))
    assert cli.main(["run"], env=env) == 1
    err = capsys.readouterr().err
    line = first_line(err)
    assert line == "failed: unexpected KeyError: 'members' (a bug: please report it with the traceback)"
    assert err.splitlines()[1] == "Traceback (most recent call last):"  # after the one line, never before it
    # the heartbeat's body is the job's log: the line first, the traceback after it
    body = receiver.calls[-1][1].splitlines()
    assert receiver.calls[-1][0].endswith("/fail") and body[0] == line
    assert body[1] == "Traceback (most recent call last):" and body[-1] == "KeyError: 'members'"
    assert run_results(metrics)["failed"] == 1
    state = json.loads(Path(backup_env["CHECKNINER_BACKUP_DIR"], "state.json").read_text())
    assert state["last_run"]["outcome"] == "failed"


@pytest.mark.parametrize("text", ['{"last_run": "yesterday", "last_success": 5}', "{half a docu"])
def test_malformed_state_is_set_aside_and_the_run_goes_on(run_cli, backup_env, text):
    directory = Path(backup_env["CHECKNINER_BACKUP_DIR"])
    directory.mkdir()
    (directory / "state.json").write_text(text)
    status = run_cli("status", "--json")
    assert status.returncode == 0, status.stderr
    assert "the next run sets it aside" in json.loads(status.stdout)["warnings"][0]

    result = run_cli("run")
    assert result.returncode == 0, result.stderr
    assert "saved " in first_line(result.stdout)
    (bad,) = directory.glob("state.json.bad-*")
    assert bad.read_text() == text
    warning = first_line(result.stderr)
    assert warning.startswith(f"warning: {directory / 'state.json'} was ") and f"set aside as {bad.name}" in warning
    assert json.loads(run_cli("status", "--json").stdout)["last_run"]["outcome"] == "saved"


def test_a_server_restarted_during_the_dump_is_one_line_and_the_next_run_saves(
    pg, app_db, run_cli, backup_env, tmp_path
):
    """The dump waits on a table lock another session holds; the server restarts meanwhile (every session ends): the run
    fails with one line saying so, saves nothing, and the next run is a normal one."""
    import sys

    from checkniner_backup import pg as pg_mod

    psycopg2 = pg_mod.psycopg2_module()
    directory = Path(backup_env["CHECKNINER_BACKUP_DIR"])
    holder = psycopg2.connect(pg.superuser_url(app_db.name))
    try:
        with holder.cursor() as cur:
            cur.execute("BEGIN; LOCK TABLE checkouts_checkout IN ACCESS EXCLUSIVE MODE")
        argv = [sys.executable, "-m", "checkniner_backup.cli", "run"]
        proc = subprocess.Popen(argv, env=backup_env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
        waiting = "0"
        for _ in range(300):  # the dump (pg_dump or the fixtures) waits for the lock: it has started
            waiting = pg.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'").strip()
            if waiting != "0" or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert waiting != "0", "the run never waited on the lock"
        pg.restart()
        out, err = proc.communicate(timeout=120)
    finally:
        holder.close()
    assert proc.returncode == 1, out + err
    assert "Traceback" not in err and "a bug" not in out + err, out + err
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    line = first_line(out + err)
    assert "the database server closed the connection during the dump" in line and "nothing was saved" in line, line
    assert pg.app_password not in line
    assert not list(directory.glob("*.tar.gz")), list(directory.iterdir())
    proc = run_cli("run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "saved" in first_line(proc.stdout + proc.stderr)
