"""Fixtures mode: load `<app>.json` with the application's own Django (the helper's `load`), in one transaction
whose proof (the business apps dumped again, compared with the manifest) runs inside it, so a load into a database
that already holds other rows rolls back instead of leaving a mix."""

import json
import tempfile

from ..django_client import last_phase
from ..django_helper import protocol
from ..django_helper.protocol import Key
from ..errors import BackupError, ConfigError
from ..pg_admin import create_database, database_exists, drop_database, is_migrated
from .prove import compare_apps, migrate_check
from .runtime import phase, signals_held
from .target import save_safety

FIRST_APPS = ("contenttypes", "auth")  # load order: what other apps' natural keys point at comes first


def fixture_order(labels):
    return [a for a in FIRST_APPS if a in labels] + [a for a in labels if a not in FIRST_APPS]


def restore_fixtures(config, request, fetched, target, live, selected, work, result):
    manifest, say = fetched.manifest, request.spelling
    available = manifest.apps
    business = set(manifest.business_apps)
    labels = selected or available
    unknown = [a for a in labels if a not in available and a not in business]
    if unknown:
        raise ConfigError(
            f"{fetched.name} has no fixture for {', '.join(unknown)} (it has: {', '.join(available) or 'none'})"
        )
    to_load = [a for a in fixture_order(labels) if a in available]
    result["fixtures"] = [{"app": a, "objects": manifest.fixture_objects(a)} for a in to_load]
    expect = manifest.expected_fixtures(set(labels))
    # 1. the target must be migrated by the application (fixtures load into its tables), or not exist at all
    exists = database_exists(target)
    if exists:
        migrated, has_tables = is_migrated(target)
        if has_tables:
            missing = migrate_check(config, target, work) if migrated else ["(no django_migrations table)"]
            if missing:
                raise ConfigError(
                    f"{target.describe()} misses migrations ({', '.join(missing[:5])}): run manage.py migrate first "
                    f"(fixtures load into a migrated database), or use {say.sql}"
                )
    extra = {
        protocol.ENV_CHECKDIR: tempfile.mkdtemp(prefix="proof-", dir=work),
        protocol.ENV_FORMAT: str(manifest.fixture_format),  # the proof dumps as the archive's fixtures were written
    }
    if expect:
        extra[protocol.ENV_EXPECT] = json.dumps(expect)
    fixtures = [fetched.fixture(a) for a in to_load]
    # 2. already there? a dry load compares without loading
    if exists and expect and is_migrated(target)[0]:
        probe = last_phase(config, target, [protocol.LOAD, *fixtures], work, {**extra, protocol.ENV_DRY_RUN: "1"},
                           "the fixtures comparison")  # fmt: skip
        if probe[Key.PHASE] == protocol.UNCHANGED:
            result["apps"] = compare_apps(expect, probe.get(Key.APPS) or {})
            result["fingerprint"]["actual"] = None
            result.update(ok=True, changed=False, message=f"{target.describe()} already matches {fetched.name}")
            return
    if request.check:
        result.update(ok=True, changed=True, message=f"would load {', '.join(to_load)} into {target.describe()}")
        return
    # 3. the live database's current state is saved before anything is loaded over it
    if live and exists and is_migrated(target)[0]:
        with phase(result["timings"], "safety"):
            save_safety(config, result)
    if not exists:
        create_database(target)
        result["created_database"] = True
    # 4. load and prove in one transaction; a database created for it goes again if that fails
    try:
        if not is_migrated(target)[0]:
            last_phase(config, target, [protocol.MIGRATE], work, None, "migrate")
        with phase(result["timings"], "load and proof"):
            done = last_phase(config, target, [protocol.LOAD, *fixtures], work, extra, "loaddata",
                              accept_failed=(protocol.MISMATCH,))  # fmt: skip
    except BaseException:
        if result["created_database"]:
            with signals_held():
                drop_database(target)
        raise
    actual = done.get(Key.APPS) or {}
    if done[Key.PHASE] == protocol.MISMATCH:
        result["apps"] = compare_apps(expect, actual)
        bad = [a for a, v in result["apps"].items() if not v["match"]]
        raise BackupError(
            f"loading {', '.join(to_load)} did not reproduce {', '.join(bad)} exactly (the target already holds other "
            f"rows?): rolled back, {target.describe()} is unchanged; load into an empty migrated database or use "
            f"{say.sql}"
        )
    result["changed"] = done[Key.PHASE] == protocol.LOADED
    result["apps"] = compare_apps(expect, actual) if expect else {}
    result["ok"] = all(v["match"] for v in result["apps"].values())
    if not expect:
        result["warnings"].append("no business app among the loaded fixtures: loaded, but there is nothing to prove")
