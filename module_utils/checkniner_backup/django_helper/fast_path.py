"""The fast path's model: the one SELECT that writes a model's objects (fast_values.py writes each value), the
check that its rows hold no value the SQL writes otherwise, and the COPY into the fixture file."""

from .fast_values import FieldValues, Unsupported, field_kinds, lit
from .ordering import NATURAL_KEYS, is_natural, order_of

# JSON text never holds these control characters: CSV with them as quote and delimiter gives each row as it is
COPY_OPTIONS = "FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02'"


def read_settings(cursor):
    """The session's output formats, for the fast path's SQL and for psycopg's parsing alike: ISO dates, intervals in
    the style psycopg reads, floats in their shortest exact form (PostgreSQL 12 and later, as Python's repr)."""
    cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'")
    cursor.execute("SET LOCAL IntervalStyle = 'postgres'")
    cursor.execute("SET LOCAL extra_float_digits = 1")


class FastModel(FieldValues):
    """The SELECT that writes one model's objects as format 3 does, or Unsupported."""

    def __init__(self, model, connection):
        from django.conf import settings

        self.model = model
        self.qn = connection.ops.quote_name
        self.kinds = field_kinds()
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
        self.natural = is_natural(model)
        self.body = self._object()
        self.order = ", ".join(self.order_by(model, "t"))
        self.select("")  # every name quotes

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
        """The ORDER BY of order_of(model) (format 3), from the row in alias."""
        return [f"{where}.{self.qn(field.column)}" for where, field in
                (self.path(model, alias, p) for p in order_of(model))]  # fmt: skip

    def _target_value(self, field, col):
        """A reference by key: the value of the field it points at, written as Django writes that key."""
        kind = self.kind_within(field, field.target_field)
        if kind in ("int", "uuid", "text"):
            return self.expr(kind, col, field.target_field)
        raise Unsupported(f"{field.name} points at a {type(field.target_field).__name__}")

    def _reference(self, field, alias, col):
        target = field.remote_field.model
        if is_natural(target):
            return f"CASE WHEN {col} IS NOT NULL THEN {self.natural_key(target, self.join(alias, field))} END"
        return self._target_value(field, col)

    def _many(self, field):
        """The JSON list of the rows an auto-created many-to-many holds, in order_of() of the target, aggregated once
        for the whole table and joined."""
        target = field.remote_field.model
        if target._meta.base_manager_name:
            raise Unsupported(f"{field.name}: the related base manager may filter rows")
        through = field.remote_field.through._meta.db_table
        source, towards = self.qn(field.m2m_column_name()), self.qn(field.m2m_reverse_name())
        outer, joined_outer = self.joins, self._joined
        self.joins, self._joined = [], {}  # the aggregate is a query of its own
        if is_natural(target):
            pk = target._meta.pk
            self.joins.append(f"JOIN {self.qn(target._meta.db_table)} p ON p.{self.qn(pk.column)} = m.{towards}")
            value, order = self.natural_key(target, "p"), ", ".join(self.order_by(target, "p"))
        else:
            kind = self.kind_within(field, target._meta.pk)
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
        """The SELECT of the model's objects, each after `separator`, in order_of()."""
        parts, merged = [("lit", separator), *self.body], []
        for kind, text in parts:
            if kind == "lit" and merged and merged[-1][0] == "lit":
                merged[-1] = ("lit", merged[-1][1] + text)
            else:
                merged.append((kind, text))
        row = " || ".join(lit(text) if kind == "lit" else text for kind, text in merged if text)
        sql = f"SELECT {row} FROM {self.table} {' '.join(self.joins)} ORDER BY {self.order}"
        return sql + (f" LIMIT {limit}" if limit else "") + (f" OFFSET {offset}" if offset else "")

    def unsupported_rows(self, cursor):
        """The field of a row holding a value the SQL would not write as Django does (the model goes to Django)."""
        for name, check in self.checks:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {self.table} WHERE {check})")
            if cursor.fetchone()[0]:
                return name
        return None


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
