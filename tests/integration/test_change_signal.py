"""The statistics tier of change detection (backup/table_stats.py) against a real server: a busy site's unchanged run
reads PostgreSQL's write counters instead of scanning the business tables, and every way those counters can fail to
show a committed change (a reset, a crash, a restart, a TRUNCATE, a session that does not count) still ends in an
archive, by that run or the next.

Each "alone" assertion shows the counters the run compares are the very ones it recorded: the counters by themselves
would have called the change unchanged; what catches it is the rest of the evidence."""

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import psycopg2
import pytest
from support.django_project import manage

from checkniner_backup.backup import table_stats
from checkniner_backup.config import Database

BUSINESS_EDIT = "UPDATE checkouts_aircrafttype SET sorted_position = sorted_position + 1"
COUNTERS = slice(5, None)  # inserted, updated, deleted in a table's recorded evidence


def _db(env):
    return env["DATABASE_URL"].rsplit("/", 1)[1]


def _state(env):
    return json.loads(Path(env["CHECKNINER_BACKUP_DIR"], "state.json").read_text())


def _session_write(pg, env):
    """What a busy site commits all day: a transaction, but not to a business table."""
    pg.psql(f"INSERT INTO django_session VALUES ('busy-{uuid.uuid4().hex}', 'x', now())", db=_db(env))


def _run(run_cli, env=None):
    result = run_cli("run", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _settle(run_cli, pg, env):
    """First archive, then a digests run that records the counters beside its digests."""
    assert "saved " in _run(run_cli)
    _session_write(pg, env)
    assert "unchanged (digests" in _run(run_cli)
    assert _state(env)["statistics"]["tables"]


def _now(env):
    """The evidence the next run will compare, read the way it reads it."""
    tables = _state(env)["statistics"]["tables"]
    return table_stats.read(Database.from_url(env["DATABASE_URL"]), list(tables))["tables"]


def _wait_counted(pg, env, table="checkouts_aircrafttype"):
    """Until the server's counters show the business edit (a backend hands them over just after it ends)."""
    for _ in range(100):
        out = pg.psql(f"SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = '{table}'", db=_db(env))
        if int(out.strip() or 0) > 0:
            return
        time.sleep(0.1)
    raise AssertionError("the update was never counted")


def _wait_up(pg):
    for _ in range(300):
        try:
            pg.psql("SELECT 1")
            return
        except RuntimeError:
            time.sleep(0.1)
    raise AssertionError("the server did not come back")


def _crash(pg):
    """A backend killed: the postmaster restarts every process and recovers, and it lives on (its start time stays)."""
    conn = psycopg2.connect(pg.superuser_url())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        os.kill(pid, signal.SIGKILL)
    finally:
        try:
            conn.close()
        except psycopg2.Error:
            pass
    time.sleep(0.5)
    _wait_up(pg)


def _immediate_restart(pg):
    ctl = [pg.bin("pg_ctl"), "-D", str(pg.datadir)]
    subprocess.run(pg._server_cmd([*ctl, "-m", "immediate", "-w", "stop"]), capture_output=True, check=True)
    subprocess.run(
        pg._server_cmd([*ctl, "-l", str(pg.logfile), "-w", "-t", "60", "-o", f"-p {pg.port}", "start"]),
        capture_output=True,
        check=True,
    )
    _wait_up(pg)


def test_a_busy_sites_unchanged_run_reads_counters_not_rows(run_cli, backup_env, pg):
    _settle(run_cli, pg, backup_env)
    for skipped in (1, 2):
        _session_write(pg, backup_env)
        assert "unchanged (statistics" in _run(run_cli)
        state = _state(backup_env)
        assert state["statistics"]["skipped"] == skipped
        assert state["last_run"]["reason"] == "statistics"
    # a business edit moves the counters: saved by the very next run
    pg.psql(BUSINESS_EDIT, db=_db(backup_env))
    assert "saved " in _run(run_cli)
    assert _state(backup_env)["statistics"]["skipped"] == 0


def test_the_digests_run_every_n_runs_and_catch_a_write_no_counter_shows(run_cli, backup_env, pg):
    every = {"CHECKNINER_FULL_DIGEST_EVERY": "2"}
    _settle(run_cli, pg, backup_env)
    # a superuser session that does not count its writes: the counters cannot see it
    pg.psql(f"SET track_counts = off; {BUSINESS_EDIT};", db=_db(backup_env))
    _session_write(pg, backup_env)
    assert _now(backup_env) == _state(backup_env)["statistics"]["tables"]
    assert "unchanged (statistics" in _run(run_cli, every)
    _session_write(pg, backup_env)
    assert "unchanged (statistics" in _run(run_cli, every)
    _session_write(pg, backup_env)
    assert "saved " in _run(run_cli, every)  # the second run decided by statistics alone was the last
    assert _state(backup_env)["statistics"]["why"] == "the digests run at least every 2 runs"


def test_a_statistics_reset_is_never_taken_for_no_change(run_cli, backup_env, pg):
    _settle(run_cli, pg, backup_env)
    pg.psql("SELECT pg_stat_reset()", db=_db(backup_env))
    _session_write(pg, backup_env)
    assert "unchanged (digests" in _run(run_cli)  # the reset made the counters uncertain; the rows say unchanged
    assert _state(backup_env)["statistics"]["why"] == "the statistics were reset"
    pg.psql(BUSINESS_EDIT, db=_db(backup_env))
    _wait_counted(pg, backup_env)
    pg.psql("SELECT pg_stat_reset()", db=_db(backup_env))
    assert _now(backup_env) == _state(backup_env)["statistics"]["tables"]  # alone: "unchanged"
    assert "saved " in _run(run_cli)


def test_one_tables_counters_reset_is_never_taken_for_no_change(run_cli, backup_env, pg):
    _settle(run_cli, pg, backup_env)
    reset = "SELECT pg_stat_reset_single_table_counters('checkouts_aircrafttype'::regclass)"
    pg.psql(reset, db=_db(backup_env))
    _session_write(pg, backup_env)
    assert "unchanged (digests" in _run(run_cli)
    pg.psql(BUSINESS_EDIT, db=_db(backup_env))
    _wait_counted(pg, backup_env)
    pg.psql(reset, db=_db(backup_env))
    assert _now(backup_env) == _state(backup_env)["statistics"]["tables"]
    assert "saved " in _run(run_cli)


@pytest.mark.parametrize("outage", [_crash, _immediate_restart], ids=["crash", "immediate-restart"])
def test_counters_lost_in_a_crash_or_restart_are_never_taken_for_no_change(run_cli, backup_env, pg, outage):
    _settle(run_cli, pg, backup_env)
    outage(pg)  # every counter back to zero: the run after it scans, and records zeros
    _session_write(pg, backup_env)
    assert "unchanged (digests" in _run(run_cli)
    assert _state(backup_env)["statistics"]["why"] in (
        "the server restarted",
        "the statistics were discarded (a crash) or reset",
    )
    pg.psql(BUSINESS_EDIT, db=_db(backup_env))
    _wait_counted(pg, backup_env)
    outage(pg)  # the edit's counts are lost with the rest
    assert _now(backup_env) == _state(backup_env)["statistics"]["tables"]
    assert "saved " in _run(run_cli)


def test_a_truncate_counts_no_row_and_is_still_seen(run_cli, backup_env, pg):
    _settle(run_cli, pg, backup_env)
    assert int(pg.psql("SELECT count(*) FROM checkouts_pilotweight", db=_db(backup_env))) > 0
    pg.psql("TRUNCATE checkouts_pilotweight", db=_db(backup_env))
    time.sleep(0.2)
    recorded, now = _state(backup_env)["statistics"]["tables"], _now(backup_env)
    assert {t: e[COUNTERS] for t, e in now.items()} == {t: e[COUNTERS] for t, e in recorded.items()}
    assert "saved " in _run(run_cli)
    assert _state(backup_env)["statistics"]["why"].startswith("checkouts_pilotweight was rewritten")


def test_rolled_back_writes_then_a_committed_one(run_cli, backup_env, pg, app_db):
    _settle(run_cli, pg, backup_env)
    # rolled back: counted all the same; the digests that follow find the rows unchanged
    pg.psql(f"BEGIN; {BUSINESS_EDIT}; ROLLBACK;", db=_db(backup_env))
    assert "unchanged (digests" in _run(run_cli)
    # a savepoint's edit rolled back, another committed in the same transaction
    pg.psql(
        f"BEGIN; SAVEPOINT s; {BUSINESS_EDIT}; ROLLBACK TO s; "
        "UPDATE checkouts_airstrip SET name = name || '!' WHERE id = (SELECT min(id) FROM checkouts_airstrip); COMMIT;",
        db=_db(backup_env),
    )
    assert "saved " in _run(run_cli)
    # in flight across a run: not in its snapshot, and counted only at commit, so the next run sees it
    conn = psycopg2.connect(app_db.superuser_url)
    try:
        with conn.cursor() as cur:
            cur.execute(BUSINESS_EDIT)
            assert "unchanged (" in _run(run_cli)
        conn.commit()
    finally:
        conn.close()
    assert "saved " in _run(run_cli)


def test_an_old_state_file_without_statistics_keeps_working(run_cli, backup_env, pg):
    _settle(run_cli, pg, backup_env)
    path = Path(backup_env["CHECKNINER_BACKUP_DIR"], "state.json")
    doc = json.loads(path.read_text())
    del doc["statistics"]
    path.write_text(json.dumps(doc))
    _session_write(pg, backup_env)
    assert "unchanged (digests" in _run(run_cli)
    assert _state(backup_env)["statistics"]["why"] == "no statistics recorded with the digests"
    _session_write(pg, backup_env)
    assert "unchanged (statistics" in _run(run_cli)
    manage(["mutate_business"], backup_env["DATABASE_URL"])
    assert "saved " in _run(run_cli)
