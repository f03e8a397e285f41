"""Fill the field zoo with the values that are hard to write exactly: the edges of each type.

--odd adds a row whose values PostgreSQL does not write as Django does (JSON numbers 1.50 and 0.00001, a non-ASCII
word in an array, an interval of months): the fast path must notice and leave the model to Django's serializer.
"""

import datetime as dt
import math
import uuid
from decimal import Decimal

from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from zoo.models import Article, Code, Inherited, Labelled, Shouted, Specimen, Stamped, Token, Truncated

UTC = dt.timezone.utc
FLOATS = [0.0, -0.0, 1.0, -1.0, 0.1, 2.5, 100.0, 123.456, 1e15, 1.5e15, 1234567890123456.8, 999999999999999.9,
          1e16, 1.2345e16, 1e22, 1e-4, 1.5e-5, 1e-5, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
          math.pi, -math.e, 1 / 3, math.nan, math.inf, -math.inf]  # fmt: skip
DECIMALS = ["0", "0.0000001", "-0.0000001", "0.00000012", "0.0000009999", "0.000001", "0.0000010", "1.5", "-2.25",
            "12345678901234567890.1234567890", "0.0000000001", "100", "-0.5"]  # fmt: skip
TEXTS = ["", "plain", 'quote " and backslash \\', "new\nline\ttab\rcr", "\x01\x02\x1f control \x7f del",
         "é ü ß 東京 😀", "\u2028 line separator \u2029", "</script>", "'; DROP TABLE x; --"]  # fmt: skip
DURATIONS = [dt.timedelta(0), dt.timedelta(microseconds=1), dt.timedelta(microseconds=-1),
             dt.timedelta(days=1, hours=2, minutes=3, seconds=4, microseconds=500000), dt.timedelta(days=-3),
             dt.timedelta(hours=30), dt.timedelta(days=1000, seconds=59), dt.timedelta(days=-1, seconds=5),
             dt.timedelta(seconds=86399, microseconds=999999)]  # fmt: skip
MOMENTS = [dt.datetime(2026, 11, 24, 3, 32, 48, micro, tzinfo=UTC) for micro in (0, 1, 500, 999, 1000, 123456, 999999)]
MOMENTS += [dt.datetime(1, 1, 1, tzinfo=UTC), dt.datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC),
            dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
            dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
            dt.datetime(2026, 7, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=-9, minutes=-30)))]  # fmt: skip
CENTS = ["0.0000", "0.0001", "-0.0001", "12.5000", "99999999.9999", "-1.0000", "100.0000"]  # numeric(12, 4)
TIMES = [dt.time(0, 0), dt.time(23, 59, 59, 999999), dt.time(12, 0, 0, 1), dt.time(12, 0, 0, 500),
         dt.time(1, 2, 3, 400000)]  # fmt: skip
JSONS = [{}, [], None, "a string", 0, -7, 10**30, True, {"b": 1, "a": [1, 2, {"c": None}], "é": "ü 😀 \n \u2028"},
         {"float": 0.1, "half": 2.5, "whole": 1.0, "neg": -0.0, "fraction": 123456789.125, "big": 1e16},
         [1.5, "x", [[], {}], False]]  # fmt: skip


class Command(BaseCommand):
    help = "Fill the field zoo (zoo.Specimen and friends) with edge values of every field type."

    def add_arguments(self, parser):
        parser.add_argument("--odd", action="store_true", help="add values the fast path must leave to Django")

    @transaction.atomic
    def handle(self, *args, odd, **options):
        tokens = [Token.objects.create(id=uuid.UUID(int=n * 7919), label=f"token {n}") for n in range(1, 5)]
        codes = [Code.objects.create(code=c) for c in ("A-1", "é", 'q"uote')]
        kinds = list(ContentType.objects.order_by("app_label", "model")[:3])
        permissions = list(Permission.objects.order_by("-id")[:3])
        rows = max(len(FLOATS), len(DECIMALS), len(TEXTS), len(DURATIONS), len(MOMENTS), len(JSONS))
        previous = None
        for n in range(rows):

            def pick(values, n=n):  # one value of each list a row
                return values[n % len(values)]

            specimen = Specimen.objects.create(
                big=-(2**63) if n == 0 else 2**63 - 1 if n == 1 else n * 10**12, small=-(2**15) + n,
                integer=n - 5, positive=n, positive_small=2**15 - 1 - n, positive_big=2**63 - 1 - n,
                flag=[True, False, None][n % 3], char=pick(TEXTS), text=pick(TEXTS[::-1]), slug=f"slug-{n}",
                email=f"p{n}@example.org", url=f"https://example.org/{n}?q=a&b=%20",
                ip=["127.0.0.1", "::1", "2001:db8::8a2e:370:7334", "192.168.0.1"][n % 4],
                file=["", "uploads/a b.txt", None][n % 3], path=f"/tmp/{n}",  # noqa: S108 - a name
                date=[dt.date(1, 1, 1), dt.date(99, 12, 31), dt.date(2026, 2, 28), dt.date(9999, 12, 31)][n % 4],
                moment=pick(MOMENTS), time=pick(TIMES), duration=pick(DURATIONS), amount=Decimal(pick(DECIMALS)),
                price=Decimal(["0.00", "0.01", "-999999.99", "12.50"][n % 4]), real=pick(FLOATS),
                uuid=uuid.UUID(int=n * 2**100 + n), blob=bytes(range(256))[: n * 37] + b"\x00\xff" * n,
                data=pick(JSONS), numbers=[[1, None, -3, 2**31 - 1], [], None][n % 3],
                words=[["a", 'b"c', "back\\slash", "new\nline", ""], [], None][n % 3],
                parent=previous, token=tokens[n % len(tokens)] if n % 5 else None, code=codes[n % len(codes)],
                kind=kinds[n % len(kinds)] if n % 4 else None, twin=tokens[n] if n < len(tokens) else None,
            )  # fmt: skip
            specimen.tokens.set(tokens[: n % 4])
            specimen.permissions.set(permissions[: n % 3])
            Labelled.objects.create(specimen=specimen, tags=[["red", "blue"], [], None][n % 3])
            previous = specimen
        # nulls everywhere (the ORM writes b"" for a BinaryField left empty)
        Specimen.objects.create()
        with connection.cursor() as cursor:
            cursor.execute("UPDATE zoo_specimen SET blob = NULL WHERE id = (SELECT max(id) FROM zoo_specimen)")
        self.seed_subclasses()
        if odd:
            odd_one = Specimen.objects.create()
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE zoo_specimen SET data = '{\"price\": 1.50, \"tiny\": 1e-05}', words = ARRAY['café'], "
                    "duration = interval '1 mon 2 days' WHERE id = %s",
                    [odd_one.pk],
                )
        self.stdout.write(f"{Specimen.objects.count()} specimens")

    def seed_subclasses(self):
        """The subclass models: each time, text and decimal edge in a field of its own subclass; an excerpt split
        at the marker and one by paragraphs (SplitField)."""
        stamped = []
        for n, moment in enumerate(MOMENTS):
            row = Stamped.objects.create(status=list(Stamped.STATUS)[n % 3][0], id=uuid.UUID(int=n * 104729 + 1))
            # created and modified are set by the fields on save: the edges are written past them
            Stamped.objects.filter(pk=row.pk).update(
                created=moment, modified=MOMENTS[-1 - n], status_changed=moment,
                published_at=moment if n % 2 else None,
            )  # fmt: skip
            stamped.append(row)
        for n, text in enumerate(TEXTS):
            row = Inherited.objects.create(
                stamped=stamped[n % len(stamped)] if n % 4 else None, moment=MOMENTS[n % len(MOMENTS)] if n else None,
                name=text[:50] or None, amount=Decimal(CENTS[n % len(CENTS)]),
                count=-(2**63) if n == 0 else 2**63 - 1 if n == 1 else n, created=MOMENTS[-1 - n % len(MOMENTS)],
            )  # fmt: skip
            row.others.set(stamped[: n % 4])
            Shouted.objects.create(name=text[:50] if n else None)
            Truncated.objects.create(moment=MOMENTS[n % len(MOMENTS)] if n else None)
        Article.objects.create(body="first paragraph\n\nsecond\n\nthird")
        Article.objects.create(body="before the marker\n<!-- split -->\nafter é 😀")
