"""checkniner_restore: what it hands the engine (a RestoreRequest spelled for modules), changed/unchanged, check mode
and diff, the option rules checked before anything runs, the drill (state=verified), every failure in one line.

The engine (api.restore, api.verify) is faked; tests/integration/test_modules_live.py runs the real module.
"""

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


def restore_result(**overrides):
    result = {
        "ok": True,
        "changed": True,
        "check_mode": False,
        "archive": "a.tar.gz",
        "source": "local",
        "mode": "sql",
        "target": "database 'checkniner' on db.example:5432",
        "target_database": "checkniner",
        "live": True,
        "created_database": False,
        "safety_archive": "2026-01-01T000000Z-pre-restore.tar.gz",
        "fingerprint": {"expected": "fa", "actual": "fa"},
        "apps": {"auth": {"match": True, "expected": "d1", "actual": "d1"}},
        "tables": {"auth_user": {"match": True, "expected": 5, "actual": 5}},
        "fixtures": {},
        "extra_tables": [],
        "warnings": [],
        "message": "restored a.tar.gz into database 'checkniner' on db.example:5432; proven",
    }
    result.update(overrides)
    return result


def engine_result(cls, doc):
    """The engine's typed result for `doc`: returned when its proof holds, else raised inside ProofFailed."""
    result = cls(**doc)
    if not result.ok:
        raise api.ProofFailed(result)
    return result


def fake_restore(monkeypatch, seen, result):
    def fake(config, request):
        seen.update(cfg=config, request=request)
        if isinstance(result, Exception):
            raise result
        return engine_result(api.RestoreResult, result)

    monkeypatch.setattr(api, "restore", fake)


def test_restore_changed(monkeypatch, seen, base_args):
    fake_restore(monkeypatch, seen, restore_result())
    result, code, _ = run_module("checkniner_restore", dict(base_args, confirm=True))
    assert code == 0, result
    assert result["changed"] is True and result["ok"] is True
    assert result["msg"].startswith("restored a.tar.gz")
    assert result["safety_archive"] == "2026-01-01T000000Z-pre-restore.tar.gz"
    request = seen["request"]
    assert (request.archive, request.mode, request.yes, request.check) == ("latest", "sql", True, False)
    assert request.spelling == api.MODULE  # engine messages name confirm=true, mode=fixtures, ...
    assert request.allow_unsigned is False and api.MODULE.allow_unsigned.startswith("allow_unsigned=true")


def test_restore_allow_unsigned_reaches_the_engine(monkeypatch, seen, base_args):
    fake_restore(monkeypatch, seen, restore_result())
    result, code, _ = run_module("checkniner_restore", dict(base_args, confirm=True, allow_unsigned=True))
    assert code == 0, result
    assert seen["request"].allow_unsigned is True


def test_restore_already_matches_is_unchanged(monkeypatch, seen, base_args):
    fake_restore(monkeypatch, seen, restore_result(changed=False, safety_archive=None, message="already matches"))
    result, code, _ = run_module("checkniner_restore", dict(base_args, confirm=True))
    assert code == 0
    assert result["changed"] is False
    assert result["msg"] == "already matches"


def test_restore_check_mode_with_diff(monkeypatch, seen, base_args):
    fake_restore(
        monkeypatch,
        seen,
        restore_result(
            check_mode=True,
            safety_archive=None,
            fingerprint={"expected": "fa", "actual": "fb"},
            apps={"auth": {"match": False, "expected": "d1", "actual": "d0"}},
            tables={"auth_user": {"match": False, "expected": 5, "actual": 7}},
            message="would restore a.tar.gz into database 'checkniner'",
        ),
    )
    result, code, _ = run_module("checkniner_restore", base_args, check=True, diff=True)
    assert code == 0, result
    assert seen["request"].check is True and seen["request"].yes is False
    assert result["changed"] is True
    assert result["diff"]["before"] == {"apps": {"auth": "d0"}, "tables": {"auth_user": 7}, "fingerprint": "fb"}
    assert result["diff"]["after"] == {"apps": {"auth": "d1"}, "tables": {"auth_user": 5}, "fingerprint": "fa"}


def test_restore_fixtures_subset_to_another_target(monkeypatch, seen, base_args):
    target = "postgres://other:tgt-Pass@staging/checkniner"
    fake_restore(monkeypatch, seen, restore_result(mode="fixtures", live=False, warnings=["tables left as they are"]))
    args = dict(base_args, mode="fixtures", apps=["checkouts"], target_database_url=target)
    result, code, raw = run_module("checkniner_restore", args)
    assert code == 0, result
    request = seen["request"]
    assert (request.mode, request.apps, request.target_url) == ("fixtures", ["checkouts"], target)
    assert [w["event"]["msg"] if isinstance(w, dict) else w for w in result["warnings"]] == ["tables left as they are"]
    assert "tgt-Pass" not in raw


def test_restore_passes_the_session_options_on(monkeypatch, seen, base_args):
    fake_restore(monkeypatch, seen, restore_result())
    result, code, _ = run_module("checkniner_restore", dict(base_args, confirm=True, terminate_sessions=True))
    assert code == 0, result
    assert (seen["request"].lock_timeout, seen["request"].terminate_sessions) == (30, True)
    result, code, _ = run_module("checkniner_restore", dict(base_args, lock_timeout=0))
    assert code == 1 and result["msg"] == "lock_timeout must be a number of seconds above 0, e.g. 30"


def test_restore_live_without_confirm_fails_clearly(monkeypatch, seen, base_args):
    fake_restore(
        monkeypatch,
        seen,
        api.ConfigError("refusing to overwrite the live database 'checkniner' without confirmation: pass confirm=true"),
    )
    result, code, _ = run_module("checkniner_restore", base_args)
    assert code == 1
    assert seen["request"].yes is False
    assert result["msg"].startswith("refusing to overwrite the live database")


def test_restore_proof_failed_fails_changed(monkeypatch, seen, base_args):
    fake_restore(
        monkeypatch,
        seen,
        restore_result(
            ok=False,
            apps={"auth": {"match": False, "expected": "d1", "actual": "d9"}},
            message="restored a.tar.gz; PROOF FAILED: auth differs",
        ),
    )
    result, code, _ = run_module("checkniner_restore", dict(base_args, confirm=True))
    assert code == 1
    assert result["failed"] is True and result["changed"] is True
    assert "PROOF FAILED" in result["msg"]


def test_restore_integrity_error(monkeypatch, seen, base_args):
    fake_restore(monkeypatch, seen, api.IntegrityError("a.tar.gz does not match its recorded sha256"))
    result, code, _ = run_module("checkniner_restore", dict(base_args, confirm=True))
    assert code == 1
    assert result["msg"] == "a.tar.gz does not match its recorded sha256"


@pytest.mark.parametrize("kind", sorted(ENGINE_ERRORS))
def test_restore_engine_errors_fail_with_their_one_line(monkeypatch, seen, base_args, tracebacks, kind):
    fake_restore(monkeypatch, seen, engine_error(kind))
    result, code, _ = run_module("checkniner_restore", dict(base_args, confirm=True))
    assert_engine_failure(result, code, kind)
    assert seen["request"].yes is True


@pytest.mark.parametrize(
    "args, message",
    [
        ({"apps": ["auth"]}, "apps needs mode=fixtures"),
        ({"state": "verified", "mode": "fixtures"}, "state=verified restores the SQL into a scratch database"),
        ({"mode": "binary"}, "value of mode must be one of: sql, fixtures"),
        ({"source": "s3"}, "source is for state=verified (the drill)"),
        ({"state": "verified", "from": "tape"}, "value of source must be one of: all, local, s3"),
    ],
)
def test_restore_bad_options(monkeypatch, seen, base_args, args, message):
    fake_restore(monkeypatch, seen, AssertionError("the engine must not run"))
    result, code, _ = run_module("checkniner_restore", dict(base_args, **args))
    assert code == 1
    assert message in result["msg"]
    assert seen == {}


def test_restore_bad_options_are_refused_before_the_configuration_is_read(monkeypatch, seen):
    """The engine's own rule (RestoreRequest.validate, spelled for modules) fails first, even without DATABASE_URL,
    and the target's password is masked in that failure too."""
    fake_restore(monkeypatch, seen, AssertionError("the engine must not run"))
    args = {"apps": ["auth"], "target_database_url": "postgres://other:tgt-Pass@staging/checkniner"}
    result, code, raw = run_module("checkniner_restore", args)
    assert code == 1
    assert result["msg"] == "apps needs mode=fixtures: SQL mode restores the whole database"
    assert seen == {} and "tgt-Pass" not in raw


def test_verify_ok_is_unchanged(monkeypatch, seen, base_args):
    def verify(cfg, request):
        seen["request"] = request
        return engine_result(
            api.DrillResult,
            {
                "ok": True,
                "archive": "a.tar.gz",
                "scratch_database": "cnb_verify_x",
                "dropped": True,
                "warnings": [],
                "message": "a.tar.gz restores",
            },
        )

    monkeypatch.setattr(api, "verify", verify)
    result, code, _ = run_module("checkniner_restore", dict(base_args, state="verified", archive="a.tar.gz"))
    assert code == 0
    assert result["changed"] is False and result["dropped"] is True
    assert result["msg"] == "a.tar.gz restores"
    assert seen["request"].archive == "a.tar.gz" and seen["request"].spelling == api.MODULE
    assert seen["request"].source == "all"  # every copy, local and off-site, unless told otherwise
    run_module("checkniner_restore", dict(base_args, state="verified", **{"from": "s3"}))
    assert seen["request"].source == "s3"
    assert seen["request"].allow_unsigned is False  # fail closed unless the task says otherwise
    run_module("checkniner_restore", dict(base_args, state="verified", allow_unsigned=True))
    assert seen["request"].allow_unsigned is True


def test_verify_failed_drill_fails(monkeypatch, base_args):
    monkeypatch.setattr(
        api,
        "verify",
        lambda cfg, request: engine_result(
            api.DrillResult,
            {
                "ok": False,
                "warnings": [],
                "message": "a.tar.gz FAILED the drill: auth differs",
            },
        ),
    )
    result, code, _ = run_module("checkniner_restore", dict(base_args, state="verified"))
    assert code == 1
    assert result["changed"] is False
    assert result["msg"] == "a.tar.gz FAILED the drill: auth differs"


def test_verify_is_skipped_in_check_mode(monkeypatch, base_args):
    monkeypatch.setattr(api, "verify", lambda *a, **k: pytest.fail("the drill must not run in check mode"))
    result, code, _ = run_module("checkniner_restore", dict(base_args, state="verified"), check=True)
    assert code == 0
    assert result["skipped"] is True and result["changed"] is False


def test_verify_needs_the_database(monkeypatch):
    monkeypatch.setattr(api, "verify", lambda *a, **k: pytest.fail("the drill must not run without a database"))
    result, code, _ = run_module("checkniner_restore", {"state": "verified"})
    assert code == 1
    assert result["msg"].startswith("DATABASE_URL is not set")


@pytest.mark.parametrize("kind", sorted(ENGINE_ERRORS))
def test_verify_engine_errors_fail_with_their_one_line(monkeypatch, base_args, tracebacks, kind):
    monkeypatch.setattr(api, "verify", raiser(engine_error(kind)))
    result, code, _ = run_module("checkniner_restore", dict(base_args, state="verified"))
    assert_engine_failure(result, code, kind)


def test_at_reaches_the_restore_and_the_drill(monkeypatch, seen, base_args):
    fake_restore(monkeypatch, seen, restore_result())
    result, code, _ = run_module("checkniner_restore", dict(base_args, confirm=True, at="2026-11-30T14:00:00Z"))
    assert code == 0, result
    assert seen["request"].at == "2026-11-30T14:00:00Z" and seen["request"].archive == "latest"
    assert seen["request"].before().isoformat() == "2026-11-30T14:00:00+00:00"
    monkeypatch.setattr(api, "verify", lambda cfg, request: seen.update(verify=request) or restore_result())
    run_module("checkniner_restore", dict(base_args, state="verified", at="-1d"))
    assert seen["verify"].at == "-1d" and seen["verify"].spelling == api.MODULE


@pytest.mark.parametrize(
    "args, message",
    [
        ({"at": "-2h", "archive": "2026-11-30T140000Z.tar.gz"}, "at and archive 2026-11-30T140000Z.tar.gz each name"),
        ({"at": "soon"}, "at must be an ISO 8601 time"),
        ({"at": "soon", "state": "verified"}, "at must be an ISO 8601 time"),
    ],
)
def test_at_is_refused_in_one_line_before_anything_runs(monkeypatch, seen, base_args, args, message):
    fake_restore(monkeypatch, seen, restore_result())
    result, code, _ = run_module("checkniner_restore", dict(base_args, **args))
    assert code == 1 and result["msg"].startswith(message), result["msg"]
    assert seen == {}
