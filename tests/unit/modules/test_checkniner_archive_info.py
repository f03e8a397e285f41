"""checkniner_archive_info: the local directory (real files), S3 (faked listing), what each side needs, and engine
errors in one line. Read-only: never changed, the same in check mode."""

from types import SimpleNamespace

import pytest
from support.ansible_module import (  # first: it puts module_utils under ansible.module_utils
    ENGINE_ERRORS,
    assert_engine_failure,
    engine_error,
    raiser,
    run_module,
)

# isort: split
from ansible.module_utils.checkniner_backup import api


def make_archives(directory, names, latest=None):
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_bytes(b"x" * 10)
    if latest:
        (directory / "latest.tar.gz").symlink_to(latest)


def test_archive_info_local(tmp_path):
    names = ["2026-01-01T000000Z.tar.gz", "2026-01-02T000000Z.tar.gz"]
    make_archives(tmp_path / "backups", names, latest=names[-1])
    result, code, _ = run_module("checkniner_archive_info", {"backup_dir": str(tmp_path / "backups")}, check=True)
    assert code == 0
    assert result["changed"] is False
    assert [a["name"] for a in result["archives"]] == names
    assert [a["latest"] for a in result["archives"]] == [False, True]
    assert result["latest"] == names[-1]
    assert "remote_archives" not in result


def test_archive_info_missing_directory_has_no_archives(tmp_path):
    result, code, _ = run_module("checkniner_archive_info", {"backup_dir": str(tmp_path / "nothing-yet")})
    assert code == 0
    assert result["archives"] == [] and result["latest"] is None
    assert not (tmp_path / "nothing-yet").exists()


def test_archive_info_remote(monkeypatch, tmp_path):
    row = SimpleNamespace(as_dict=lambda: {"name": "b.tar.gz", "latest": True})  # the module returns as_dict()
    monkeypatch.setattr(api, "remote_archives", lambda cfg: [row])
    monkeypatch.setattr(
        api, "remote_pointers", lambda cfg: api.RemotePointers({"s3": {"name": "b.tar.gz", "sha256": "x"}})
    )
    result, code, _ = run_module("checkniner_archive_info", {"local": False, "remote": True, "s3_bucket": "b"})
    assert code == 0, result
    assert result["remote_latest"] == {"s3": "b.tar.gz"}
    assert result["remote_archives"] == [{"name": "b.tar.gz", "latest": True}]
    assert "archives" not in result


def test_archive_info_remote_needs_s3(tmp_path):
    result, code, _ = run_module("checkniner_archive_info", {"backup_dir": str(tmp_path), "remote": True})
    assert code == 1
    assert result["msg"] == "S3 is not configured: set S3_BUCKET_NAME to list remote archives"


def test_archive_info_local_needs_backup_dir():
    result, code, _ = run_module("checkniner_archive_info", {})
    assert code == 1
    assert result["msg"] == "CHECKNINER_BACKUP_DIR is not set: name the local archive directory"


def test_archive_info_nothing_to_list():
    result, code, _ = run_module("checkniner_archive_info", {"local": False})
    assert code == 1
    assert result["msg"].startswith("nothing to list")


@pytest.mark.parametrize("kind", sorted(ENGINE_ERRORS))
def test_archive_info_local_engine_errors_fail_with_their_one_line(monkeypatch, tmp_path, tracebacks, kind):
    monkeypatch.setattr(api, "local_archives", raiser(engine_error(kind)))
    result, code, _ = run_module("checkniner_archive_info", {"backup_dir": str(tmp_path)})
    assert_engine_failure(result, code, kind)


@pytest.mark.parametrize("kind", sorted(ENGINE_ERRORS))
def test_archive_info_remote_engine_errors_fail_with_their_one_line(monkeypatch, tracebacks, kind):
    monkeypatch.setattr(api, "remote_pointers", raiser(engine_error(kind)))
    result, code, _ = run_module("checkniner_archive_info", {"local": False, "remote": True, "s3_bucket": "b"})
    assert_engine_failure(result, code, kind)


def test_archive_info_at_lists_the_archive_of_that_time(tmp_path):
    names = ["2026-01-01T000000Z.tar.gz", "2026-01-02T000000Z.tar.gz", "2026-01-03T000000Z.tar.gz"]
    make_archives(tmp_path / "backups", names, latest=names[-1])
    args = {"backup_dir": str(tmp_path / "backups"), "at": "2026-01-02 12:00"}
    result, code, _ = run_module("checkniner_archive_info", args)
    assert code == 0, result
    assert [a["name"] for a in result["archives"]] == [names[1]]
    assert result["latest"] == names[-1]  # latest keeps its meaning
    result, code, _ = run_module("checkniner_archive_info", dict(args, at="2025-12-31"))
    assert code == 1
    assert result["msg"].startswith(f"no archive saved at or before 2025-12-31T00:00:00Z: the oldest is {names[0]}")
