"""`list --at TIME` on the command line: only the archive restore --at would take, `--at -2h` read as a time ago (not
as an option), and a time before the oldest archive as one line, exit 1. Real files in a backup directory."""

import json

import pytest

from checkniner_backup import cli
from checkniner_backup.units import utcnow

NAMES = ["2026-11-30T100000Z.tar.gz", "2026-11-30T120000Z.tar.gz", "2026-11-30T140000Z.tar.gz"]


@pytest.fixture
def env(tmp_path):
    for name in NAMES + ["2026-11-30T130000Z-pre-restore.tar.gz"]:
        (tmp_path / name).write_bytes(b"x")
    return {"CHECKNINER_BACKUP_DIR": str(tmp_path)}


def listed(capsys, env, *args):
    assert cli.main(["list", "--json", *args], env=env) == 0
    return [row["name"] for row in json.loads(capsys.readouterr().out)["archives"]]


def test_list_at_shows_only_the_archive_of_that_time(capsys, env):
    assert listed(capsys, env) == sorted(NAMES + ["2026-11-30T130000Z-pre-restore.tar.gz"])
    assert listed(capsys, env, "--at", "2026-11-30T13:30:00Z") == [NAMES[1]]  # a safety archive is never taken
    assert listed(capsys, env, "--at=2026-11-30 14:00") == [NAMES[2]]
    assert cli.main(["list", "--at", "2026-11-30T12:00:00Z"], env=env) == 0
    assert capsys.readouterr().out.split()[0] == NAMES[1]


def test_a_time_ago_is_a_value_not_an_option(capsys, env, tmp_path):
    (tmp_path / (utcnow().strftime("%Y-%m-%dT%H%M%SZ") + ".tar.gz")).write_bytes(b"x")  # saved now
    assert listed(capsys, env, "--at", "-2h") == [NAMES[2]]
    assert listed(capsys, env, "--at", "-0m") == sorted(p.name for p in tmp_path.iterdir())[-1:]


def test_a_time_before_the_oldest_is_one_line_exit_1(capsys, env):
    assert cli.main(["list", "--at", "2026-11-30"], env=env) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith(
        f"list: failed: no archive saved at or before 2026-11-30T00:00:00Z: the oldest is {NAMES[0]} "
        "(from 2026-11-30T10:00:00Z, in local); `checkniner-backup list` shows them"
    )
    assert cli.main(["list", "--at", "noon"], env=env) == 2
    assert "failed: --at must be an ISO 8601 time" in capsys.readouterr().err
