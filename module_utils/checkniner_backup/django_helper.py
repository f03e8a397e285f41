"""Runs INSIDE the application's interpreter (its Django, its settings), as a script, never imported by the engine.

One process sets Django up once and serves every app:

    python django_helper.py dump OUTDIR     # fixtures of every installed app, from one exported snapshot
    python django_helper.py load FIXTURE... # loaddata, all fixtures in one transaction
    python django_helper.py migrate-check   # exit 1 when the database misses migrations
    python django_helper.py migrate         # apply the application's migrations (a new restore target)

Parameters travel in the environment, never in argv (CHECKNINER_HELPER_DB holds the connection as JSON,
password included). Progress is reported as one JSON document per line on stdout; the engine may answer
"stop" or "continue" on stdin after the business apps are written (no need to dump the rest when the
business data did not change).

This file must not import checkniner_backup: the application's virtualenv does not have it.
"""

import hashlib
import json
import os
import sys

# The protocol, named once: the engine (django_client.py) imports these names from this file. Commands (argv[1]):
DUMP, LOAD, MIGRATE_CHECK, MIGRATE = "dump", "load", "migrate-check", "migrate"
# Parameters (environment):
ENV_DB = "CHECKNINER_HELPER_DB"  # the connection as JSON, password included
ENV_APPS = "CHECKNINER_HELPER_APPS"  # the business app labels, comma-separated
ENV_ONLY_BUSINESS = "CHECKNINER_HELPER_ONLY_BUSINESS"  # "1": dump the business apps only
ENV_SNAPSHOT = "CHECKNINER_HELPER_SNAPSHOT"  # the exported snapshot to read from
ENV_HANDSHAKE = "CHECKNINER_HELPER_HANDSHAKE"  # "1": ask CONTINUE or STOP on stdin after the business apps
ENV_EXPECT = "CHECKNINER_HELPER_EXPECT"  # load: {label: sha256 or null} the loaded apps must dump to
ENV_CHECKDIR = "CHECKNINER_HELPER_CHECKDIR"  # load: where those proof dumps go
ENV_DRY_RUN = "CHECKNINER_HELPER_DRY_RUN"  # load: "1": compare only, load nothing
# Answers on stdin, and the phases reported on stdout ({"phase": ...}; {"app": ...} per fixture; {"error": ...}):
CONTINUE, STOP = "continue", "stop"
BUSINESS_DONE, DONE, STOPPED = "business-done", "done", "stopped"
UNCHANGED, WOULD_LOAD, MISMATCH, LOADED, MIGRATED = "unchanged", "would-load", "mismatch", "loaded", "migrated"

# Models whose primary keys are artefacts of the database they live in (post_migrate creates them in any order):
# dumped with natural primary keys so the fixtures load into any freshly migrated database.
# Their rows are ordered by natural key too (their pks differ between databases; the bytes must not).
NATURAL_PRIMARY = {
    "contenttypes.contenttype": ("app_label", "model"),
    "auth.permission": ("content_type__app_label", "content_type__model", "codename"),
}
CHUNK = 2000


def emit(**doc):
    sys.stdout.write(json.dumps(doc, sort_keys=True) + "\n")
    sys.stdout.flush()


def fail(message, code=1, config=False):
    """Report one line to the engine; config=True marks the user's configuration as the cause (exit code 2)."""
    emit(error=message, config=config)
    sys.exit(code)


def setup_django():
    manage_py = os.environ.get("CHECKNINER_MANAGE_PY")
    if manage_py:
        project_dir = os.path.dirname(os.path.abspath(manage_py))
        sys.path.insert(0, project_dir)
        os.chdir(project_dir)
    try:
        import django
        from django.conf import settings
    except ImportError as exc:
        fail(f"Django is not importable with {sys.executable} ({exc}): set CHECKNINER_DJANGO_PYTHON", config=True)
    try:
        databases = settings.DATABASES
    except Exception as exc:  # noqa: BLE001 - any settings import error is the user's configuration
        module = os.environ.get("DJANGO_SETTINGS_MODULE")
        fail(f"cannot load Django settings {module!r}: {exc.__class__.__name__}: {exc}", config=True)
    target = os.environ.get(ENV_DB)
    if target:
        # Whatever the settings say, talk to the database the engine is backing up (the SQL and the fixtures
        # must describe the same database; SET TRANSACTION SNAPSHOT refuses any other one anyway).
        params = json.loads(target)
        default = databases.setdefault("default", {})
        if "postgresql" not in default.get("ENGINE", "") and "postgis" not in default.get("ENGINE", ""):
            default["ENGINE"] = "django.db.backends.postgresql"
        default.update(
            NAME=params["name"],
            USER=params.get("user") or "",
            PASSWORD=params.get("password") or "",
            HOST=params.get("host") or "",
            PORT=str(params.get("port") or ""),
        )
        options = dict(default.get("OPTIONS") or {})
        for key in ("sslmode", "sslrootcert"):
            if key in params.get("options", {}):
                options[key] = params["options"][key]
        default["OPTIONS"] = options
    try:
        django.setup()
    except Exception as exc:  # noqa: BLE001
        fail(f"Django setup failed: {exc.__class__.__name__}: {exc}")


class HashingWriter:
    """A text stream that writes UTF-8 to a binary file and hashes it, in blocks of about 64 KB (memory stays flat;
    one encode/hash/write per block instead of one per JSON token)."""

    BLOCK = 1 << 16

    def __init__(self, raw):
        self.raw = raw
        self.sha = hashlib.sha256()
        self.size = 0
        self._pending = []
        self._pending_len = 0

    def write(self, text):
        self._pending.append(text)
        self._pending_len += len(text)
        if self._pending_len >= self.BLOCK:
            self._drain()
        return len(text)

    def _drain(self):
        data = "".join(self._pending).encode("utf-8")
        self._pending, self._pending_len = [], 0
        self.sha.update(data)
        self.size += len(data)
        self.raw.write(data)

    def flush(self):
        self._drain()
        self.raw.flush()


def _natural(model):
    return model._meta.label_lower in NATURAL_PRIMARY


def _encoder_class():
    import datetime

    from django.core.serializers.json import DjangoJSONEncoder

    class MillisecondEncoder(DjangoJSONEncoder):
        """DjangoJSONEncoder, made idempotent. It cuts times to milliseconds by cutting the text, so 12:00:00.000500
        is written "12:00:00.000", which loads as 12:00:00 and is then written "12:00:00": a fixture that does not
        reproduce itself, and a fixtures restore whose proof fails about once in a thousand timestamps. Here the
        value is cut first, then written: the same milliseconds, and the same bytes again after loading."""

        def default(self, o):
            if isinstance(o, (datetime.datetime, datetime.time)) and o.microsecond % 1000:
                o = o.replace(microsecond=o.microsecond - o.microsecond % 1000)
            return super().default(o)

    return MillisecondEncoder


def _serializer_class():
    from django.core.serializers.json import Serializer

    encoder = _encoder_class()

    class BackupSerializer(Serializer):
        """dumpdata's JSON, except that natural keys are used only where pks are database artefacts (content types,
        permissions): as primary keys of those objects and as references to them. Every other object keeps its pk
        and is referenced by pk, so the fixtures restore the exact ids the SQL has, without a query per reference.
        Times are cut to the millisecond like dumpdata's, before they are written (MillisecondEncoder).
        """

        def serialize(self, queryset, **options):
            options.setdefault("cls", encoder)
            return super().serialize(queryset, **options)

        def get_dump_object(self, obj):
            self.use_natural_primary_keys = _natural(obj)
            return super().get_dump_object(obj)

        def end_object(self, obj):
            # dumpdata's bytes (no indent: ", " between objects), but json.dumps runs the C encoder where
            # json.dump(obj, stream) runs the pure-Python one
            if not self.first:
                self.stream.write(", ")
            self.stream.write(json.dumps(self.get_dump_object(obj), **self.json_kwargs))
            self._current = None

        def handle_fk_field(self, obj, field):
            self.use_natural_foreign_keys = _natural(field.remote_field.model)
            super().handle_fk_field(obj, field)

        def handle_m2m_field(self, obj, field):
            self.use_natural_foreign_keys = _natural(field.remote_field.model)
            super().handle_m2m_field(obj, field)

    return BackupSerializer


def _order(model):
    return NATURAL_PRIMARY.get(model._meta.label_lower) or (model._meta.pk.name,)


def _ordered_queryset(model):
    """Every row in pk (or natural key) order, references fetched in bulk: the same data gives the same bytes in any
    database, with no query per object."""
    from django.db.models import Prefetch

    queryset = model._base_manager.using("default").order_by(*_order(model))
    natural_fks = [f.name for f in model._meta.concrete_fields if f.is_relation and _natural(f.remote_field.model)]
    if natural_fks:
        queryset = queryset.select_related(*natural_fks)
    prefetches = []
    for field in model._meta.many_to_many:
        if not field.remote_field.through._meta.auto_created:
            continue  # serialized through its own model, like dumpdata
        target = field.remote_field.model
        related = target._base_manager.order_by(*_order(target))
        target_fks = [f.name for f in target._meta.concrete_fields if f.is_relation and _natural(f.remote_field.model)]
        if _natural(target) and target_fks:
            related = related.select_related(*target_fks)
        prefetches.append(Prefetch(field.name, queryset=related))
    return queryset.prefetch_related(*prefetches) if prefetches else queryset


def app_models(app_config):
    from django.core import serializers
    from django.db import router

    # Like dumpdata, minus unmanaged models: their tables (or views) belong to someone else; the SQL still has them.
    models = [
        m
        for m in app_config.get_models()
        if not m._meta.proxy and m._meta.managed and router.allow_migrate_model("default", m)
    ]
    try:
        ordered = serializers.sort_dependencies([(app_config, models)], allow_cycles=True)
    except TypeError:  # Django < 4.2
        ordered = serializers.sort_dependencies([(app_config, models)])
    return ordered


def app_tables(app_config):
    """The tables behind what dump_app() writes: each model's, and its auto-created many-to-many tables."""
    tables = []
    for model in app_models(app_config):
        tables.append(model._meta.db_table)
        tables += [f.remote_field.through._meta.db_table for f in model._meta.local_many_to_many
                   if f.remote_field.through._meta.auto_created]  # fmt: skip
    return sorted(set(tables))


def dump_app(app_config, path, serializer_class):
    count = 0

    def objects():
        nonlocal count
        for model in app_models(app_config):
            for obj in _ordered_queryset(model).iterator(chunk_size=CHUNK):
                count += 1
                yield obj

    with open(path, "wb") as raw:
        writer = HashingWriter(raw)
        serializer_class().serialize(objects(), stream=writer)
        writer.flush()
        os.fsync(raw.fileno())
    if count == 0:
        os.unlink(path)
        return None
    return {"sha256": writer.sha.hexdigest(), "size": writer.size, "objects": count}


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
    serializer_class = _serializer_class()
    connection = connections["default"]
    connection.ensure_connection()
    with transaction.atomic(using="default"):
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if snapshot:
                cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
            migrations = applied_migrations(cursor)
        for index, label in enumerate(order):
            config = apps.get_app_config(label)
            info = dump_app(config, os.path.join(outdir, f"{label}.json"), serializer_class)
            emit(app=label, business=label in business, tables=app_tables(config), **(info or {"objects": 0}))
            if handshake and index == len(business) - 1:
                emit(phase=BUSINESS_DONE)
                answer = sys.stdin.readline().strip()
                if answer != CONTINUE:
                    emit(phase=STOPPED, migrations=migrations)
                    return
    emit(phase=DONE, migrations=migrations)


def business_digests(expect, checkdir):
    """{label: sha256 of its fixture, or None when it has no rows}, dumped exactly as `dump` does (dump_app)."""
    from django.apps import apps

    serializer_class = _serializer_class()
    digests = {}
    for label in sorted(expect):
        info = dump_app(apps.get_app_config(label), os.path.join(checkdir, f"{label}.json"), serializer_class)
        digests[label] = info["sha256"] if info else None
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
                emit(phase=UNCHANGED, apps=before)
                return
            if dry_run:
                emit(phase=WOULD_LOAD, apps=before)
                return
        call_command("loaddata", *fixtures, verbosity=0)
        if expect is not None:
            after = business_digests(expect, checkdir)
            if after != expect:
                transaction.set_rollback(True, using="default")
    if after is not None and after != expect:
        emit(phase=MISMATCH, apps=after)
        sys.exit(1)
    emit(phase=LOADED, fixtures=[os.path.basename(f) for f in fixtures], apps=after)


def cmd_migrate():
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    emit(phase=MIGRATED)


def cmd_migrate_check():
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections["default"])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    missing = [f"{m.app_label}.{m.name}" for m, _ in plan]
    emit(phase=MIGRATE_CHECK, missing=missing)
    sys.exit(1 if missing else 0)


def main(argv):
    if not argv:
        fail("usage: django_helper.py dump OUTDIR | load FIXTURE... | migrate-check | migrate", 2)
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


if __name__ == "__main__":
    main(sys.argv[1:])
