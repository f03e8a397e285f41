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
ENV_FORMAT = "CHECKNINER_HELPER_FORMAT"  # dump, load: the fixture format to write (an older archive's, for its proof)
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
# The fixtures' bytes, versioned: the engine records it in every manifest (fingerprint.FIXTURE_FORMAT is this) and
# asks for an archive's own format to prove a restore of it. 1: natural-key models in pk order, times cut to the
# millisecond; 2: natural-key models in natural-key order; 3: times at full precision, one object a line, written by
# PostgreSQL itself where it gives Django's bytes (the fast path below).
FIXTURE_FORMAT = 3
FIXTURE_FORMATS = (1, 2, 3)


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


class FixtureFile:
    """One app's fixture, a JSON list that loaddata reads, written by Django's serializer and by PostgreSQL's COPY in
    turn. Format 3: "[", the first object, then ", " and the next one, one object a line, "]" and a newline (a COPY row
    ends with a newline: both paths write the same lines). Formats 1 and 2: dumpdata's single line.

    Text is buffered into blocks of about 64 KB (one encode and write a block, not one a JSON object) and flushed
    before a COPY writes to the file itself."""

    BLOCK = 1 << 16

    def __init__(self, raw, lines):
        self.raw = raw
        self.lines = lines
        self.count = 0  # objects written
        self._pending = []
        self._pending_len = 0
        raw.write(b"[")

    def add(self, text):
        """One object's JSON text, after the separator it needs."""
        if self.count:
            text = ", " + text
        if self.lines:
            text += "\n"
        self.count += 1
        self._pending.append(text)
        self._pending_len += len(text)
        if self._pending_len >= self.BLOCK:
            self.flush()

    def flush(self):
        if self._pending:
            self.raw.write("".join(self._pending).encode("utf-8"))
            self._pending, self._pending_len = [], 0

    def close(self):
        self.flush()
        self.raw.write(b"]\n" if self.lines else b"]")


def _natural(model):
    return model._meta.label_lower in NATURAL_PRIMARY


def _encoder_class(fmt=FIXTURE_FORMAT):
    """Format 3: times at full precision (loaddata reads them back exactly, so a loaded fixture dumps to the same
    bytes). Formats 1-2 (proofs of older archives): cut to the millisecond like dumpdata, value first (see below)."""
    import datetime

    from django.core.serializers.json import DjangoJSONEncoder

    class FullPrecisionEncoder(DjangoJSONEncoder):
        def default(self, o):
            if isinstance(o, datetime.datetime):
                text = o.isoformat()
                return text[:-6] + "Z" if text.endswith("+00:00") else text
            if isinstance(o, datetime.time) and o.utcoffset() is None:
                return o.isoformat()
            return super().default(o)

    class MillisecondEncoder(DjangoJSONEncoder):
        """DjangoJSONEncoder, made idempotent. It cuts times to milliseconds by cutting the text, so 12:00:00.000500
        is written "12:00:00.000", which loads as 12:00:00 and is then written "12:00:00": a fixture that does not
        reproduce itself. Here the value is cut first, then written (the bytes of format 2)."""

        def default(self, o):
            if isinstance(o, (datetime.datetime, datetime.time)) and o.microsecond % 1000:
                o = o.replace(microsecond=o.microsecond - o.microsecond % 1000)
            return super().default(o)

    return FullPrecisionEncoder if fmt >= 3 else MillisecondEncoder


def _serializer_class(fmt=FIXTURE_FORMAT):
    from django.core.serializers.json import Serializer

    encoder = _encoder_class(fmt)

    class BackupSerializer(Serializer):
        """dumpdata's JSON objects, except that natural keys are used only where pks are database artefacts (content
        types, permissions): as primary keys of those objects and as references to them. Every other object keeps its
        pk and is referenced by pk, so the fixtures restore the exact ids the SQL has, without a query per reference.
        The stream is a FixtureFile: it writes the list around the objects, as many models as the app has.
        """

        def serialize(self, queryset, **options):
            options.setdefault("cls", encoder)
            return super().serialize(queryset, **options)

        def start_serialization(self):
            self._init_options()  # the list's brackets are the FixtureFile's

        def end_serialization(self):
            pass

        def get_dump_object(self, obj):
            self.use_natural_primary_keys = _natural(obj)
            return super().get_dump_object(obj)

        def end_object(self, obj):
            # json.dumps runs the C encoder where json.dump(obj, stream) runs the pure-Python one
            self.stream.add(json.dumps(self.get_dump_object(obj), **self.json_kwargs))
            self._current = None

        def handle_fk_field(self, obj, field):
            self.use_natural_foreign_keys = _natural(field.remote_field.model)
            super().handle_fk_field(obj, field)

        def handle_m2m_field(self, obj, field):
            self.use_natural_foreign_keys = _natural(field.remote_field.model)
            super().handle_m2m_field(obj, field)

    return BackupSerializer


def _order(model, fmt=FIXTURE_FORMAT):
    if fmt >= 2 and _natural(model):
        return NATURAL_PRIMARY[model._meta.label_lower]
    return (model._meta.pk.name,)


def _ordered_queryset(model, fmt=FIXTURE_FORMAT):
    """Every row in pk (or natural key) order, references fetched in bulk: the same data gives the same bytes in any
    database, with no query per object."""
    from django.db.models import Prefetch

    queryset = model._base_manager.using("default").order_by(*_order(model, fmt))
    natural_fks = [f.name for f in model._meta.concrete_fields if f.is_relation and _natural(f.remote_field.model)]
    if natural_fks:
        queryset = queryset.select_related(*natural_fks)
    prefetches = []
    for field in model._meta.many_to_many:
        if not field.remote_field.through._meta.auto_created:
            continue  # serialized through its own model, like dumpdata
        target = field.remote_field.model
        related = target._base_manager.order_by(*_order(target, fmt))
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


# -- the fast path: PostgreSQL writes a model's objects itself ---------------------------------------------------------
#
# One `COPY (SELECT <the object's JSON text>) TO STDOUT` a model, in the dump's snapshot, straight into the fixture
# file: no model instance, no Python a row. Each field's text is the one Django's serializer (BackupSerializer,
# format 3) writes for the same value, byte for byte, for Django's own field classes below (exact classes: a subclass
# may serialize differently); a model with any other field, or whose data holds a value the SQL would not write like
# Django (checked first, in the same snapshot), goes through Django's serializer. Either way the bytes are the same:
# which path wrote a model never shows in its fixture (tests/integration/test_fixture_fields.py proves it field by
# field). The session reads ISO dates and shortest-exact floats (read_settings), as psycopg parses them.

# natural keys Django defines for the NATURAL_PRIMARY models, as column paths: what natural_key() returns
NATURAL_KEYS = {
    "contenttypes.contenttype": ("app_label", "model"),
    "auth.permission": ("codename", "content_type__app_label", "content_type__model"),
}
INT_FIELDS = ("AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField", "SmallIntegerField",
              "PositiveIntegerField", "PositiveBigIntegerField", "PositiveSmallIntegerField")  # fmt: skip
KIND_OF = {
    **{name: "int" for name in INT_FIELDS},
    **{name: "text" for name in ("CharField", "TextField", "SlugField", "EmailField", "URLField", "FilePathField",
                                 "GenericIPAddressField")},  # fmt: skip
    "BooleanField": "bool", "NullBooleanField": "bool", "FileField": "file", "DateField": "date",
    "DateTimeField": "datetime", "TimeField": "time", "DurationField": "duration", "DecimalField": "decimal",
    "FloatField": "float", "UUIDField": "uuid", "BinaryField": "binary", "JSONField": "json",
    "ForeignKey": "fk", "OneToOneField": "fk", "ArrayField": "array",
}  # fmt: skip
# JSON text never holds these control characters: CSV with them as quote and delimiter gives each row as it is
COPY_OPTIONS = "FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02'"


class Unsupported(Exception):
    """This model goes through Django's serializer (the message says why)."""


def read_settings(cursor):
    """The session's output formats, for the fast path's SQL and for psycopg's parsing alike: ISO dates, intervals in
    the style psycopg reads, floats in their shortest exact form (PostgreSQL 12 and later, as Python's repr)."""
    cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'")
    cursor.execute("SET LOCAL IntervalStyle = 'postgres'")
    cursor.execute("SET LOCAL extra_float_digits = 1")


def _lit(text):
    if "\\" in text:
        raise Unsupported("a backslash in a name")
    return "'" + text.replace("'", "''") + "'"


def _field_kinds():
    from django.db import models

    kinds = {getattr(models, name): kind for name, kind in KIND_OF.items() if hasattr(models, name)}
    # a model with an ArrayField imported it already (importing contrib.postgres costs a tenth of a second)
    array = sys.modules.get("django.contrib.postgres.fields.array")
    if array is not None:
        kinds[array.ArrayField] = "array"
    return kinds


class FastModel:
    """The SELECT that writes one model's objects as format 3 does, or Unsupported."""

    def __init__(self, model, connection):
        from django.conf import settings

        self.model = model
        self.qn = connection.ops.quote_name
        self.kinds = _field_kinds()
        self.joins = []  # LEFT JOIN clauses, in the order made
        self._joined = {}  # (alias, fk name) -> alias
        self.checks = []  # (field name, WHERE condition on the table "t"): a row matching one sends the model to Django
        if settings.USE_TZ:  # aware, in the connection's time zone: UTC unless DATABASES says otherwise
            self.tz, self.tz_suffix = ("UTC", "Z") if connection.timezone_name == "UTC" else (None, None)
        else:
            self.tz, self.tz_suffix = connection.timezone_name, ""  # naive, in the session's time zone
        self.float_ok = getattr(connection, "pg_version", 0) >= 120000
        meta = model._meta
        if meta.base_manager_name:
            raise Unsupported("its base manager may filter rows")
        if meta.pk.remote_field is not None or meta.pk.__class__.__name__ == "CompositePrimaryKey":
            raise Unsupported("its primary key is a relation")
        self.table = f"{self.qn(meta.db_table)} t"
        self.label = meta.label_lower
        self.natural = _natural(model)
        self.body = self._object()
        self.order = ", ".join(self.order_by(model, "t"))
        self.select("")  # every name quotes

    # -- the JSON of one value ----------------------------------------------------------------------------------

    def kind(self, field):
        kind = self.kinds.get(type(field))
        if kind is None:
            raise Unsupported(f"{field.name} is a {type(field).__name__}")
        return kind

    def value(self, field, alias, kind=None):
        """SQL of the JSON text Django's serializer writes for field's value in the row alias (NULL when NULL)."""
        return self.expr(kind or self.kind(field), f"{alias}.{self.qn(field.column)}", field, alias)

    def expr(self, kind, col, field, alias="t"):
        """SQL of the JSON text of col, a column of the kind given (see KIND_OF)."""
        if kind == "int":
            return f"{col}::text"
        if kind == "bool":
            return f"CASE WHEN {col} THEN 'true' WHEN NOT {col} THEN 'false' END"
        if kind == "text":  # PostgreSQL escapes JSON strings as json.dumps(ensure_ascii=False) does
            return f"to_json({col})::text"
        if kind == "file":  # a FieldFile: str() of no file is ""
            return f"to_json(coalesce({col}, ''))::text"
        if kind in ("date", "uuid"):
            return f"'\"' || {col}::text || '\"'"
        if kind == "binary":  # base64 without PostgreSQL's line breaks
            return f"'\"' || translate(encode({col}, 'base64'), chr(10), '') || '\"'"
        if kind == "datetime":
            return self._datetime(col)
        if kind == "time":  # isoformat(): the microseconds only when not zero, then all six digits
            text = f"{col}::text"
            return f"'\"' || left({text}, 8) || CASE WHEN length({text}) > 8 THEN rpad(substr({text}, 9), 7, '0') " \
                   "ELSE '' END || '\"'"  # fmt: skip
        if kind == "decimal":
            return self._decimal(col)
        if kind == "float":
            if not self.float_ok:
                raise Unsupported(f"{field.name}: floats need PostgreSQL 12 (shortest exact output)")
            return _float_json(f"{col}::text", col)
        if kind == "duration":
            return self._duration(field, col)
        if kind == "json":
            return self._json(field, col)
        if kind == "array":
            return self._array(field, col)
        if kind == "fk":
            return self._reference(field, alias, col)
        raise Unsupported(f"{field.name}: {kind}")  # pragma: no cover - every kind is handled above

    def _json(self, field, col):
        """jsonb's text is json.dumps' of the value Django decodes, except for a number with a fraction whose float
        repr is written otherwise (1.50, 1e+16...): a row holding one sends the model to Django."""
        if field.decoder is not None:
            raise Unsupported(f"{field.name} has its own JSON decoder")
        text, number = "n.j::text", "n.j::text::numeric"
        written = _float_json(f"{number}::float8::text", number)
        self.checks.append((field.name,
            f"EXISTS (SELECT 1 FROM jsonb_path_query({col}, 'strict $.**') AS n(j) WHERE jsonb_typeof(n.j) = 'number' "
            f"AND strpos({text}, '.') > 0 AND CASE WHEN {number} = 0 OR abs({number}) BETWEEN 1e-300 AND 1e300 THEN "
            f"{written} <> {text} ELSE true END)",
        ))  # fmt: skip
        return f"{col}::text"

    def _datetime(self, col):
        if self.tz is None:
            raise Unsupported("aware datetimes outside UTC")
        local = f"({col} AT TIME ZONE {_lit(self.tz)})"
        return (
            f"'\"' || to_char({local}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN date_trunc('second', {local}) = "
            f"{local} THEN '' ELSE to_char({local}, '.US') END || {_lit(self.tz_suffix + chr(34))}"
        )

    @staticmethod
    def _decimal(col):
        """str(Decimal): the text PostgreSQL writes, except below 1e-6 (and zeros of more than six places), where
        Python writes an exponent: 1.2E-7."""
        digits = f"coalesce(nullif(ltrim(translate(abs({col})::text, '.', ''), '0'), ''), '0')"
        exponent = (
            f"CASE WHEN {col} < 0 THEN '-' ELSE '' END || left({digits}, 1) || CASE WHEN length({digits}) > 1 THEN "
            f"'.' || substr({digits}, 2) ELSE '' END || 'E' || (length({digits}) - 1 - scale({col}))::text"
        )
        small = f"({col} <> 0 AND abs({col}) < 0.000001) OR ({col} = 0 AND scale({col}) > 6)"
        return f"'\"' || CASE WHEN {small} THEN {exponent} ELSE {col}::text END || '\"'"

    def _duration(self, field, col):
        """duration_string() of the timedelta psycopg makes of the interval: [days ]HH:MM:SS[.ffffff]. Months
        (which Django never writes) send the model to Django."""
        self.checks.append((field.name, f"(extract(year from {col}) <> 0 OR extract(month from {col}) <> 0)"))
        us = (
            f"(extract(day from {col})::numeric * 86400000000 + extract(hour from {col})::numeric * 3600000000 + "
            f"extract(minute from {col})::numeric * 60000000 + extract(microseconds from {col})::numeric)"
        )
        days = f"floor({us} / 86400000000)"
        rest = f"({us} - {days} * 86400000000)"

        def part(divisor, modulo=None, width=2):
            value = f"mod({rest}, {modulo})" if modulo else rest
            return f"lpad(floor({value} / {divisor})::bigint::text, {width}, '0')"

        return (
            f"'\"' || CASE WHEN {days} <> 0 THEN {days}::bigint::text || ' ' ELSE '' END || {part(3600000000)} || ':' "
            f"|| {part(60000000, 3600000000)} || ':' || {part(1000000, 60000000)} || CASE WHEN mod({rest}, 1000000) "
            f"<> 0 THEN '.' || {part(1, 1000000, 6)} ELSE '' END || '\"'"
        )

    def _array(self, field, col):
        """ArrayField writes a JSON string: json.dumps (ASCII) of each element's value_to_string()."""
        base = self.kinds.get(type(field.base_field))
        if base == "int":
            element = "'\"' || u.e::text || '\"'"
        elif base == "text":
            element = "to_json(u.e)::text"
            # json.dumps (ASCII) escapes what is outside: \\u00e9
            self.checks.append((field.name, f"array_to_string({col}, '') ~ '[^\\x01-\\x7e]'"))
        else:
            raise Unsupported(f"{field.name} is an array of {type(field.base_field).__name__}")
        self.checks.append((field.name, f"array_ndims({col}) > 1"))
        items = f"(SELECT string_agg(coalesce({element}, 'null'), ', ' ORDER BY u.o) FROM unnest({col}) WITH " \
                "ORDINALITY AS u(e, o))"  # fmt: skip
        return f"CASE WHEN {col} IS NOT NULL THEN to_json('[' || coalesce({items}, '') || ']')::text END"

    # -- references ---------------------------------------------------------------------------------------------

    def join(self, alias, field):
        """The alias of the row field (a foreign key of the row in alias) points at, LEFT JOINed once."""
        key = (alias, field.name)
        if key not in self._joined:
            target = field.remote_field.model
            if target._meta.base_manager_name:
                raise Unsupported(f"{field.name}: the related base manager may filter rows")
            joined = f"j{len(self.joins) + 1}"
            self.joins.append(
                f"LEFT JOIN {self.qn(target._meta.db_table)} {joined} ON {joined}.{self.qn(field.target_field.column)}"
                f" = {alias}.{self.qn(field.column)}"
            )
            self._joined[key] = joined
        return self._joined[key]

    def path(self, model, alias, path):
        """(alias, field) of a lookup path such as content_type__app_label, joining the foreign keys on the way."""
        *hops, name = path.split("__")
        for hop in hops:
            field = model._meta.get_field(hop)
            alias, model = self.join(alias, field), field.remote_field.model
        return alias, model._meta.get_field(name)

    def natural_key(self, model, alias):
        """The JSON list natural_key() gives, from the row in alias."""
        parts = []
        for path in NATURAL_KEYS[model._meta.label_lower]:
            where, field = self.path(model, alias, path)
            parts.append(self.value(field, where, "text"))
        return "'[' || " + " || ', ' || ".join(parts) + " || ']'"

    def order_by(self, model, alias):
        """The ORDER BY of _order(model) (format 3), from the row in alias."""
        return [f"{where}.{self.qn(field.column)}" for where, field in
                (self.path(model, alias, p) for p in _order(model))]  # fmt: skip

    def _target_value(self, field, col):
        """A reference by key: the value of the field it points at, written as Django writes that key."""
        kind = self.kinds.get(type(field.target_field))
        if kind in ("int", "uuid", "text"):
            return self.expr(kind, col, field.target_field)
        raise Unsupported(f"{field.name} points at a {type(field.target_field).__name__}")

    def _reference(self, field, alias, col):
        target = field.remote_field.model
        if _natural(target):
            return f"CASE WHEN {col} IS NOT NULL THEN {self.natural_key(target, self.join(alias, field))} END"
        return self._target_value(field, col)

    def _many(self, field):
        """The JSON list of the rows an auto-created many-to-many holds, in _order() of the target, aggregated once
        for the whole table and joined."""
        target = field.remote_field.model
        if target._meta.base_manager_name:
            raise Unsupported(f"{field.name}: the related base manager may filter rows")
        through = field.remote_field.through._meta.db_table
        source, towards = self.qn(field.m2m_column_name()), self.qn(field.m2m_reverse_name())
        outer, joined_outer = self.joins, self._joined
        self.joins, self._joined = [], {}  # the aggregate is a query of its own
        if _natural(target):
            pk = target._meta.pk
            self.joins.append(f"JOIN {self.qn(target._meta.db_table)} p ON p.{self.qn(pk.column)} = m.{towards}")
            value, order = self.natural_key(target, "p"), ", ".join(self.order_by(target, "p"))
        else:
            kind = self.kinds.get(type(target._meta.pk))
            if kind not in ("int", "uuid"):  # the through table's order is the target's only for these
                raise Unsupported(f"{field.name} points at a {type(target._meta.pk).__name__} key")
            value, order = self.expr(kind, f"m.{towards}", target._meta.pk), f"m.{towards}"
        inner, self.joins, self._joined = self.joins, outer, joined_outer
        joined = f"m{len(self.joins) + 1}"
        pk = self.qn(self.model._meta.pk.column)
        self.joins.append(
            f"LEFT JOIN (SELECT m.{source} AS k, string_agg({value}, ', ' ORDER BY {order}) AS v FROM "
            f"{self.qn(through)} m {' '.join(inner)} GROUP BY m.{source}) {joined} ON {joined}.k = t.{pk}"
        )
        return f"'[' || coalesce({joined}.v, '') || ']'"

    # -- the object ---------------------------------------------------------------------------------------------

    def _object(self):
        meta = self.model._meta
        parts = [("lit", f'{{"model": "{self.label}", ')]
        if not self.natural:
            parts += [("lit", '"pk": '), ("sql", self.value(meta.pk, "t")), ("lit", ", ")]
        parts.append(("lit", '"fields": {'))
        fields = [f for f in meta.local_fields if f.serialize]
        many = [f for f in meta.local_many_to_many if f.serialize and f.remote_field.through._meta.auto_created]
        for index, field in enumerate(fields + many):
            value = self._many(field) if field in many else self.value(field, "t")
            parts += [("lit", f'{", " if index else ""}"{field.name}": '), ("sql", f"coalesce({value}, 'null')")]
        parts.append(("lit", "}}"))
        return parts

    def select(self, separator, limit=None, offset=None):
        """The SELECT of the model's objects, each after `separator`, in _order()."""
        parts, merged = [("lit", separator), *self.body], []
        for kind, text in parts:
            if kind == "lit" and merged and merged[-1][0] == "lit":
                merged[-1] = ("lit", merged[-1][1] + text)
            else:
                merged.append((kind, text))
        row = " || ".join(_lit(text) if kind == "lit" else text for kind, text in merged if text)
        sql = f"SELECT {row} FROM {self.table} {' '.join(self.joins)} ORDER BY {self.order}"
        return sql + (f" LIMIT {limit}" if limit else "") + (f" OFFSET {offset}" if offset else "")

    def unsupported_rows(self, cursor):
        """The field of a row holding a value the SQL would not write as Django does (the model goes to Django)."""
        for name, check in self.checks:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {self.table} WHERE {check})")
            if cursor.fetchone()[0]:
                return name
        return None


def _float_json(text, value):
    """float.__repr__ from PostgreSQL's shortest exact float text: the same digits; Python adds ".0" to integral
    values and writes exponent 15 in full (PostgreSQL: 1e+15, Python: 1000000000000000.0)."""
    digits = f"translate(split_part({text}, 'e', 1), '-.', '')"
    full = (
        f"CASE WHEN {value} < 0 THEN '-' ELSE '' END || CASE WHEN length({digits}) <= 16 THEN rpad({digits}, 16, '0') "
        f"|| '.0' ELSE left({digits}, 16) || '.' || substr({digits}, 17) END"
    )
    return (
        f"CASE WHEN {text} LIKE '%e+15' THEN {full} WHEN translate({text}, '-0123456789', '') = '' THEN {text} || '.0' "
        f"ELSE {text} END"
    )


def fast_plan(model, connection, cursor):
    """(FastModel, None), or (None, why the model goes through Django's serializer)."""
    if not hasattr(cursor, "copy_expert"):
        return None, "the database driver is not psycopg2"
    try:
        plan = FastModel(model, connection)
    except Unsupported as exc:
        return None, str(exc)
    name = plan.unsupported_rows(cursor)
    if name:
        return None, f"a row's {name} holds a value PostgreSQL writes otherwise"
    return plan, None


def copy_model(cursor, plan, out):
    """The model's rows written by PostgreSQL into the fixture; returns how many."""
    out.flush()

    def copy(select):
        cursor.copy_expert(f"COPY ({select}) TO STDOUT WITH ({COPY_OPTIONS})", out.raw)
        return cursor.rowcount

    if out.count:
        written = copy(plan.select(", "))
    else:  # the file's first object has no separator
        written = copy(plan.select("", limit=1))
        if written:
            written += copy(plan.select(", ", offset=1))
    out.count += written
    return written


def file_digest(path):
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def dump_app(app_config, path, fmt=FIXTURE_FORMAT):
    """One app's fixture at path, in fixture format fmt; returns {sha256, size, objects, django} (django: the models
    Django's serializer wrote, with why) or None when the app has no rows (no file)."""
    from django.db import connections

    connection = connections["default"]
    serializer = _serializer_class(fmt)()
    declined = {}
    with connection.cursor() as wrapper, open(path, "wb", buffering=1 << 20) as raw:
        cursor = wrapper.cursor  # the driver's own: COPY
        out = FixtureFile(raw, lines=fmt >= 3)
        for model in app_models(app_config):
            plan, why = fast_plan(model, connection, cursor) if fmt >= 3 else (None, f"fixture format {fmt}")
            if plan is not None:
                copy_model(cursor, plan, out)
                continue
            declined[model._meta.label_lower] = why
            serializer.serialize(_ordered_queryset(model, fmt).iterator(chunk_size=CHUNK), stream=out)
        out.close()
        raw.flush()
        os.fsync(raw.fileno())
        size = raw.tell()
    if out.count == 0:
        os.unlink(path)
        return None
    return {"sha256": file_digest(path), "size": size, "objects": out.count, "django": declined}


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
            emit(app=label, business=label in business, tables=app_tables(config), **(info or {"objects": 0}))
            if handshake and index == len(business) - 1:
                emit(phase=BUSINESS_DONE)
                answer = sys.stdin.readline().strip()
                if answer != CONTINUE:
                    emit(phase=STOPPED, migrations=migrations)
                    return
    emit(phase=DONE, migrations=migrations)


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
