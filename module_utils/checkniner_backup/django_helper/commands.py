"""The helper's commands: dump, load, migrate-check, migrate, each run once Django is set up (main)."""

import json
import os
import sys

from .app_models import app_models, app_tables
from .bootstrap import emit, fail, setup_django
from .fast_path import copy_model, fast_plan, read_settings
from .framing import FixtureFile
from .ordering import ordered_objects
from .protocol import (
    BUSINESS_DONE,
    CONTINUE,
    DONE,
    DUMP,
    ENV_APPS,
    ENV_CHECKDIR,
    ENV_DRY_RUN,
    ENV_EXPECT,
    ENV_FORMAT,
    ENV_HANDSHAKE,
    ENV_ONLY_BUSINESS,
    ENV_SNAPSHOT,
    FAST,
    FIXTURE_FORMAT,
    FIXTURE_FORMATS,
    LOAD,
    LOADED,
    MIGRATE,
    MIGRATE_CHECK,
    MIGRATED,
    MISMATCH,
    SERIALIZER,
    STOPPED,
    UNCHANGED,
    WOULD_LOAD,
    Key,
    file_sha256,
)
from .serializer import serializer_class

CHUNK = 2000


def dump_app(app_config, path, fmt=FIXTURE_FORMAT):
    """One app's fixture at path, in fixture format fmt; returns {sha256, size, objects, models} (models: the path
    that wrote each model, and why the fast path declined one) or None when the app has no rows (no file)."""
    from django.db import connections

    connection = connections["default"]
    serializer = serializer_class(fmt)()
    paths = {}
    with connection.cursor() as wrapper, open(path, "wb", buffering=1 << 20) as raw:
        cursor = wrapper.cursor  # the driver's own: COPY
        out = FixtureFile(raw, lines=fmt >= 3)
        for model in app_models(app_config):
            plan, why = fast_plan(model, connection, cursor) if fmt >= 3 else (None, f"fixture format {fmt}")
            if plan is not None:
                paths[model._meta.label_lower] = {Key.PATH: FAST}
                copy_model(cursor, plan, out)
                continue
            paths[model._meta.label_lower] = {Key.PATH: SERIALIZER, Key.REASON: why}
            serializer.serialize(ordered_objects(model, fmt, CHUNK), stream=out)
        out.close()
        raw.flush()
        os.fsync(raw.fileno())
        size = raw.tell()
    if out.count == 0:
        os.unlink(path)
        return None
    return {Key.SHA256: file_sha256(path), Key.SIZE: size, Key.OBJECTS: out.count, Key.MODELS: paths}


def applied_migrations(cursor):
    cursor.execute("SELECT to_regclass('django_migrations') IS NOT NULL")
    if not cursor.fetchone()[0]:
        return {}
    cursor.execute("SELECT DISTINCT ON (app) app, name FROM django_migrations ORDER BY app, applied DESC, id DESC")
    return dict(cursor.fetchall())


def cmd_dump(outdir):
    from django.apps import apps
    from django.db import connections, transaction

    business = [a for a in os.environ.get(ENV_APPS, "").split(",") if a]
    only_business = os.environ.get(ENV_ONLY_BUSINESS) == "1"
    snapshot = os.environ.get(ENV_SNAPSHOT)
    handshake = os.environ.get(ENV_HANDSHAKE) == "1"
    labels = [c.label for c in apps.get_app_configs()]
    unknown = [a for a in business if a not in labels]
    if unknown:
        installed = ", ".join(labels)
        fail(
            f"business app(s) not installed in this Django project: {', '.join(unknown)} (installed: {installed});"
            " set CHECKNINER_BACKUP_APPS",
            config=True,
        )
    order = business + ([] if only_business else [label for label in labels if label not in business])
    fmt = fixture_format()
    connection = connections["default"]
    connection.ensure_connection()
    with transaction.atomic(using="default"):
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if snapshot:
                cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
            read_settings(cursor)
            migrations = applied_migrations(cursor)
        for index, label in enumerate(order):
            config = apps.get_app_config(label)
            info = dump_app(config, os.path.join(outdir, f"{label}.json"), fmt)
            emit(
                {
                    Key.APP: label,
                    Key.BUSINESS: label in business,
                    Key.TABLES: app_tables(config),
                    **(info or {Key.OBJECTS: 0}),
                }
            )
            if handshake and index == len(business) - 1:
                emit({Key.PHASE: BUSINESS_DONE})
                answer = sys.stdin.readline().strip()
                if answer != CONTINUE:
                    emit({Key.PHASE: STOPPED, Key.MIGRATIONS: migrations})
                    return
    emit({Key.PHASE: DONE, Key.MIGRATIONS: migrations})


def fixture_format():
    """The format to write: the engine's choice (an older archive's, to prove a restore of it), else the current."""
    value = os.environ.get(ENV_FORMAT) or str(FIXTURE_FORMAT)
    if not value.isdigit() or int(value) not in FIXTURE_FORMATS:
        fail(f"unknown fixture format {value[:10]!r}: this checkniner-backup writes {FIXTURE_FORMATS}", 2)
    return int(value)


def business_digests(expect, checkdir):
    """{label: sha256 of its fixture, or None when it has no rows}, dumped exactly as `dump` does (dump_app)."""
    from django.apps import apps
    from django.db import connections

    fmt = fixture_format()
    with connections["default"].cursor() as cursor:
        read_settings(cursor)
    digests = {}
    for label in sorted(expect):
        info = dump_app(apps.get_app_config(label), os.path.join(checkdir, f"{label}.json"), fmt)
        digests[label] = info[Key.SHA256] if info else None
    return digests


def cmd_load(fixtures):
    """loaddata, all fixtures in one transaction.

    With CHECKNINER_HELPER_EXPECT ({label: sha256 or null}) and CHECKNINER_HELPER_CHECKDIR, the proof runs inside
    that same transaction: when the database already matches, nothing is loaded ("unchanged"); after loading, the
    apps are dumped again and any difference rolls the whole load back ("mismatch", exit 1). With
    CHECKNINER_HELPER_DRY_RUN=1 only the first comparison is made.
    """
    from django.core.management import call_command
    from django.db import transaction

    expect = json.loads(os.environ.get(ENV_EXPECT) or "null")
    checkdir = os.environ.get(ENV_CHECKDIR)
    dry_run = os.environ.get(ENV_DRY_RUN) == "1"
    after = None
    with transaction.atomic(using="default"):
        if expect is not None:
            before = business_digests(expect, checkdir)
            if before == expect:
                emit({Key.PHASE: UNCHANGED, Key.APPS: before})
                return
            if dry_run:
                emit({Key.PHASE: WOULD_LOAD, Key.APPS: before})
                return
        call_command("loaddata", *fixtures, verbosity=0)
        if expect is not None:
            after = business_digests(expect, checkdir)
            if after != expect:
                transaction.set_rollback(True, using="default")
    if after is not None and after != expect:
        emit({Key.PHASE: MISMATCH, Key.APPS: after})
        sys.exit(1)
    emit({Key.PHASE: LOADED, Key.FIXTURES: [os.path.basename(f) for f in fixtures], Key.APPS: after})


def cmd_migrate():
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    emit({Key.PHASE: MIGRATED})


def cmd_migrate_check():
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections["default"])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    missing = [f"{m.app_label}.{m.name}" for m, _ in plan]
    emit({Key.PHASE: MIGRATE_CHECK, Key.MISSING: missing})
    sys.exit(1 if missing else 0)


def main(argv):
    if not argv:
        fail("usage: python helper.pyz dump OUTDIR | load FIXTURE... | migrate-check | migrate", 2)
    setup_django()
    command, args = argv[0], argv[1:]
    try:
        if command == DUMP:
            cmd_dump(args[0])
        elif command == LOAD:
            cmd_load(args)
        elif command == MIGRATE_CHECK:
            cmd_migrate_check()
        elif command == MIGRATE:
            cmd_migrate()
        else:
            fail(f"unknown helper command {command}", 2)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - reported as one line to the engine
        fail(f"{exc.__class__.__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
