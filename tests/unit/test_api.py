"""The front doors' vocabulary: every api command returns a typed result whose as_dict() gives the JSON keys and the
module RETURN keys they always had, in that order; a failed proof raises, carrying its result."""

import typing

import pytest

from checkniner_backup import api

COMMANDS = ("run", "upload", "restore", "verify", "prune", "local_archives", "remote_archives", "remote_pointers",
            "status", "keygen", "publish_public", "preflight")  # fmt: skip


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_returns_a_typed_result(name):
    returned = typing.get_type_hints(getattr(api, name)).get("return")
    assert returned is not None, f"api.{name} has no return annotation"
    if typing.get_origin(returned) is list:
        (returned,) = typing.get_args(returned)
    assert returned not in (dict, typing.Dict) and typing.get_origin(returned) is not dict
    assert name == "preflight" or callable(getattr(returned, "as_dict", None)), f"api.{name} -> {returned}"


RESTORE_KEYS = ["ok", "changed", "check_mode", "archive", "source", "mode", "target", "target_database", "live",
                "created_database", "safety_archive", "fingerprint", "apps", "tables", "fixtures", "extra_tables",
                "signed_by", "warnings", "message", "timings"]  # fmt: skip
DRILL_KEYS = ["ok", "archive", "source", "scratch_database", "dropped", "fingerprint", "apps", "tables",
              "missing_migrations", "stale_dropped", "signed_by", "warnings", "message", "timings"]  # fmt: skip


def test_restore_keys_and_the_ones_a_proof_adds():
    result = api.RestoreResult()
    assert list(result.as_dict()) == [*RESTORE_KEYS, "duration"]
    result.schema, result.django = {"match": True, "differences": []}, {"apps": {}}
    assert list(result.as_dict()) == [*RESTORE_KEYS, "schema", "django", "duration"]


def test_drill_keys_and_its_locations():
    result = api.DrillResult(locations=[_location()])
    assert list(result.as_dict()) == [*DRILL_KEYS, "locations", "duration"]
    result.extra_tables, result.schema = [], {"match": True, "differences": []}
    assert list(result.as_dict()) == [*DRILL_KEYS, "extra_tables", "schema", "locations", "duration"]
    (row,) = result.as_dict()["locations"]
    assert row == {"location": "local", "where": "/b", "archive": None, "sha256": None, "ok": False, "message": "",
                   "proven_with": None}  # fmt: skip


def _location():
    from checkniner_backup.restore.result import DrillLocation

    return DrillLocation("local", "/b")


def test_the_other_results_keys():
    prune = api.PruneResult(dry_run=True, policy={})
    assert list(prune.as_dict()) == ["ok", "busy", "dry_run", "policy", "locations", "deleted", "warnings"]
    assert api.UploadResult("a", False).as_dict() == {"name": "a", "changed": False, "destinations": {}}
    assert list(api.KeyPair("k", "k.pub", "SHA256:x", "ed25519 AAAA c").as_dict()) == [
        "private_key", "public_key", "fingerprint", "line", "changed"]  # fmt: skip
    assert list(api.LocalArchive("a", 1, None, [], "local", True, False).as_dict()) == [
        "name", "size", "fingerprint", "pending_upload", "location", "latest", "future"]  # fmt: skip
    assert list(api.RemoteArchive("a", 1, "t", "s3", True, False).as_dict()) == [
        "name", "size", "modified", "location", "latest", "future", "lock"]  # fmt: skip
    assert api.RemotePointers({"s3": None}).as_dict() == {"s3": None}


def test_a_failed_proof_raises_with_its_result():
    result = api.RestoreResult(message="restored a into b; PROOF FAILED: auth differ(s) from the archive")
    exc = api.ProofFailed(result)
    assert isinstance(exc, api.IntegrityError) and exc.exit_code == 1
    assert str(exc) == result.message and exc.result is result


def test_status_keys():
    fields = ["backup_dir", "archives", "latest", "fingerprint", "last_run", "last_success", "last_change",
              "pending_uploads", "destinations", "schedule_minutes", "stale", "seconds_since_success",
              "limit_seconds", "last_drill", "last_drill_success", "drill_stale", "last_prune", "last_prune_success",
              "warnings", "serializer_models", "serializer_models_at"]  # fmt: skip
    status = api.Status(**{name: None for name in fields})
    assert list(status.as_dict()) == fields
