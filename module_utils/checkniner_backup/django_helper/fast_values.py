"""The fast path's values: the SQL of the JSON text Django's serializer writes for one value, field kind by kind.

The fast path: one `COPY (SELECT <the object's JSON text>) TO STDOUT` a model, in the dump's snapshot, straight into
the fixture file: no model instance, no Python a row. Each field's text is the one Django's serializer
(serializer.py, format 3) writes for the same value, byte for byte, for Django's own field classes below and their
subclasses that change nothing a dump calls (inheritance.py decides); a model with any other field, or whose data
holds a value the SQL would not write like Django (checked first, in the same snapshot), goes through Django's
serializer. Either way the
bytes are the same: which path wrote a model never shows in its fixture (tests/integration/test_fixture_fields.py
proves it field by field). The session reads ISO dates and shortest-exact floats (fast_path.read_settings), as
psycopg parses them. fast_path.py builds a model's SELECT from these.
"""

import sys

from .inheritance import Unsupported, kind_of

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


def lit(text):
    if "\\" in text:
        raise Unsupported("a backslash in a name")
    return "'" + text.replace("'", "''") + "'"


def field_kinds():
    from django.db import models

    kinds = {getattr(models, name): kind for name, kind in KIND_OF.items() if hasattr(models, name)}
    # a model with an ArrayField imported it already (importing contrib.postgres costs a tenth of a second)
    array = sys.modules.get("django.contrib.postgres.fields.array")
    if array is not None:
        kinds[array.ArrayField] = "array"
    return kinds


def float_json(text, value):
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


class FieldValues:
    """The SQL of the JSON text of one value, for FastModel (which holds kinds, checks, the time zone and the float
    support, and writes references: _reference)."""

    def kind(self, field):
        """The kind of a field of the model's own (inheritance.kind_of: a subclass is written as its parent)."""
        return kind_of(field, self.kinds)

    def kind_within(self, field, inner):
        """The kind of a field another one writes through (the key a reference writes, an array's elements)."""
        try:
            return kind_of(inner, self.kinds)
        except Unsupported as exc:
            raise Unsupported(f"{field.name}: {exc}") from None

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
            return float_json(f"{col}::text", col)
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
        written = float_json(f"{number}::float8::text", number)
        self.checks.append((field.name,
            f"EXISTS (SELECT 1 FROM jsonb_path_query({col}, 'strict $.**') AS n(j) WHERE jsonb_typeof(n.j) = 'number' "
            f"AND strpos({text}, '.') > 0 AND CASE WHEN {number} = 0 OR abs({number}) BETWEEN 1e-300 AND 1e300 THEN "
            f"{written} <> {text} ELSE true END)",
        ))  # fmt: skip
        return f"{col}::text"

    def _datetime(self, col):
        if self.tz is None:
            raise Unsupported("aware datetimes outside UTC")
        local = f"({col} AT TIME ZONE {lit(self.tz)})"
        return (
            f"'\"' || to_char({local}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN date_trunc('second', {local}) = "
            f"{local} THEN '' ELSE to_char({local}, '.US') END || {lit(self.tz_suffix + chr(34))}"
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
        base = self.kind_within(field, field.base_field)
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
