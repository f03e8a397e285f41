"""The checkniner_prune module: check mode + diff name exactly what would go, changed only when something went,
options over the host's CHECKNINER_KEEP_* variables, busy and failure paths.

The real engine runs on a local directory of small files (no S3: the live S3 side is tests/integration/test_prune.py);
the busy, destination-failure and engine-error paths fake api.prune.
"""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest
from support.ansible_module import (  # first: it puts module_utils under ansible.module_utils
    ENGINE_ERRORS,
    S3_SECRET,
    assert_engine_failure,
    engine_error,
    raiser,
    run_module,
)

# isort: split
from ansible.module_utils.checkniner_backup import api

UTC = dt.timezone.utc
START = dt.datetime(2025, 6, 1, tzinfo=UTC)
NAMES = [(START + dt.timedelta(hours=h)).strftime("%Y-%m-%dT%H%M%SZ") + ".tar.gz" for h in range(24 * 10)]


@pytest.fixture
def bdir(tmp_path):
    path = tmp_path / "backups"
    path.mkdir()
    for name in NAMES:
        (path / name).write_bytes(b"x")
    (path / "outbox" / "s3").mkdir(parents=True)
    (path / "outbox" / "s3" / NAMES[3]).write_text("{}")  # waits for upload: never deleted
    # saved by this host (its own record): retention counts them without reading their heads (these are no archives)
    (path / "state.json").write_text(json.dumps({"archives": {name: {"sha256": "0" * 64} for name in NAMES}}))
    return path


def on_disk(path):
    return sorted(n for n in os.listdir(path) if n.endswith(".tar.gz"))


def args_for(path, **extra):
    return {"backup_dir": str(path), **extra}


def test_check_mode_and_diff_name_exactly_what_would_go_and_delete_nothing(bdir):
    result, code, _ = run_module(
        "checkniner_prune", args_for(bdir, keep_within="6h", keep_daily=3), check=True, diff=True
    )
    assert code == 0
    assert result["changed"] is True and result["deleted"] == 0
    assert on_disk(bdir) == NAMES
    (loc,) = result["locations"]
    kept = set(loc["keep"])
    # hourly, 10 days from Sunday 2025-06-01: the default 48 hours cover the 6h; the newest of each of the 3 ISO
    # weeks (Sun 06-01, Sun 06-08, the newest), of the last 3 days (06-08 23:00, 06-09 23:00, the newest), of the one
    # month (the newest); and the pending one
    assert kept == set(NAMES[-48:]) | {NAMES[3], NAMES[23], NAMES[24 * 8 - 1]}
    assert loc["keep"][NAMES[3]] == ["pending upload"]
    assert loc["delete"] == sorted(set(NAMES) - kept)
    removed = [line[1:] for line in _udiff(result["diff"]) if line.startswith("-") and not line.startswith("---")]
    assert removed == [f"local: {name}" for name in loc["delete"]]
    assert result["diff"]["after"].splitlines() == [f"local: {name}" for name in sorted(kept)]


def _udiff(diff):
    import difflib

    return difflib.unified_diff(diff["before"].splitlines(), diff["after"].splitlines(), lineterm="")


def test_real_run_deletes_what_check_mode_listed_then_reruns_unchanged(bdir):
    args = args_for(bdir, keep_within="0", keep_hourly=0, keep_daily=2, keep_weekly=0, keep_monthly=0)
    planned, _, _ = run_module("checkniner_prune", args, check=True)
    result, code, _ = run_module("checkniner_prune", args)
    assert code == 0 and result["changed"] is True
    assert result["locations"][0]["delete"] == planned["locations"][0]["delete"]
    assert result["deleted"] == len(planned["locations"][0]["delete"]) == len(NAMES) - 3
    assert on_disk(bdir) == [NAMES[3], NAMES[-25], NAMES[-1]]
    assert result["policy"] == {"within": "0", "hourly": 0, "daily": 2, "weekly": 0, "monthly": 0}
    assert result["msg"].startswith(f"local ({bdir}): {len(NAMES)} archive(s), kept 3, deleted {len(NAMES) - 3}: ")
    again, code, _ = run_module("checkniner_prune", args)
    assert code == 0 and again["changed"] is False and again["deleted"] == 0
    check_again, _, _ = run_module("checkniner_prune", args, check=True)
    assert check_again["changed"] is False


def test_options_override_the_hosts_variables_which_override_the_defaults(bdir, monkeypatch):
    monkeypatch.setenv("CHECKNINER_KEEP_DAILY", "1")
    monkeypatch.setenv("CHECKNINER_KEEP_HOURLY", "0")
    monkeypatch.setenv("CHECKNINER_KEEP_WITHIN", "0")
    result, _, _ = run_module("checkniner_prune", args_for(bdir, keep_weekly=0, keep_monthly=0), check=True)
    assert result["policy"] == {"within": "0", "hourly": 0, "daily": 1, "weekly": 0, "monthly": 0}
    assert set(result["locations"][0]["keep"]) == {NAMES[3], NAMES[-1]}
    via_environment, _, _ = run_module(
        "checkniner_prune",
        args_for(bdir, environment={"CHECKNINER_KEEP_DAILY": "4"}, keep_daily=2, keep_weekly=0, keep_monthly=0),
        check=True,
    )
    assert via_environment["policy"]["daily"] == 2  # the option wins over the environment option


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"keep_within": "5"}, "CHECKNINER_KEEP_WITHIN must be a duration like 24h, 7d, 90m or 1d12h (m, h, d, w), "),
        ({"keep_daily": -1}, "CHECKNINER_KEEP_DAILY must be a whole number of daily archives to keep (0 turns it off)"),
    ],
)
def test_bad_policy_fails_with_one_line_and_deletes_nothing(bdir, extra, message):
    result, code, _ = run_module("checkniner_prune", args_for(bdir, **extra))
    assert code == 1 and result["failed"] is True
    assert result["msg"].startswith(message) and "\n" not in result["msg"]
    assert on_disk(bdir) == NAMES


def test_nothing_configured_fails_clearly():
    result, code, _ = run_module("checkniner_prune", {})
    assert code == 1
    assert result["msg"] == "nothing to prune: set CHECKNINER_BACKUP_DIR and/or S3_BUCKET_NAME"


def test_busy_is_unchanged(bdir, monkeypatch):
    monkeypatch.setattr(
        api,
        "prune",
        lambda cfg, dry_run=False, policy=None: api.PruneResult(
            ok=True, busy=True, dry_run=dry_run, policy=policy.as_dict(), locations=[], deleted=0
        ),
    )
    result, code, _ = run_module("checkniner_prune", args_for(bdir))
    assert code == 0 and result["changed"] is False and result["busy"] is True
    assert result["msg"] == "another run held the lock (cron?): nothing pruned"


def test_a_failed_destination_fails_the_task_but_reports_what_was_deleted(bdir, monkeypatch):
    def fake(cfg, dry_run=False, policy=None):
        seen["secret"] = cfg.destinations[0].secret_key
        local = {"location": "local", "where": str(bdir), "archives": 3, "kept": 1, "keep": {NAMES[2]: ["newest"]}}
        local.update(delete=NAMES[:2], deleted=2, dry_run=False, error=None)
        s3 = {"location": "s3", "where": "s3://b/db/ at AWS", "archives": 0, "kept": 0, "keep": {}, "delete": []}
        s3.update(deleted=0, dry_run=False, error="S3 unreachable while listing archives (s3://b/db/ at AWS): boom")
        return api.PruneResult(ok=False, dry_run=False, policy={}, locations=[local, s3], deleted=2)

    seen = {}
    monkeypatch.setattr(api, "prune", fake)
    result, code, raw = run_module("checkniner_prune", args_for(bdir, s3_bucket="b", s3_secret_key=S3_SECRET))
    assert code == 1 and result["failed"] is True and result["changed"] is True
    assert result["msg"] == (
        f"local ({bdir}): 3 archive(s), kept 1, deleted 2: {NAMES[0]} {NAMES[1]}; "
        "s3 (s3://b/db/ at AWS): failed: S3 unreachable while listing archives (s3://b/db/ at AWS): boom"
    )
    assert seen["secret"] == S3_SECRET and S3_SECRET not in raw


@pytest.mark.parametrize("kind", sorted(ENGINE_ERRORS))
def test_engine_errors_fail_with_their_one_line(bdir, monkeypatch, tracebacks, kind):
    """prune reports a held local lock as busy (above); a Busy raised all the same is a failure, in one line."""
    monkeypatch.setattr(api, "prune", raiser(engine_error(kind)))
    result, code, _ = run_module("checkniner_prune", args_for(bdir))
    assert_engine_failure(result, code, kind)
    assert on_disk(bdir) == NAMES
