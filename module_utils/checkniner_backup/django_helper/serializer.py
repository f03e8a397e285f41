"""Django's serializer as the fixtures use it, and the encoders of the fixture formats."""

import json

from .ordering import is_natural, m2m_prefetch
from .protocol import FIXTURE_FORMAT


def encoder_class(fmt=FIXTURE_FORMAT):
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


def serializer_class(fmt=FIXTURE_FORMAT):
    from django.core.serializers.json import Serializer
    from django.db.models import prefetch_related_objects

    encoder = encoder_class(fmt)

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
            self.use_natural_primary_keys = is_natural(obj)
            return super().get_dump_object(obj)

        def end_object(self, obj):
            # json.dumps runs the C encoder where json.dump(obj, stream) runs the pure-Python one
            self.stream.add(json.dumps(self.get_dump_object(obj), **self.json_kwargs))
            self._current = None

        def handle_fk_field(self, obj, field):
            self.use_natural_foreign_keys = is_natural(field.remote_field.model)
            super().handle_fk_field(obj, field)

        def handle_m2m_field(self, obj, field):
            self.use_natural_foreign_keys = is_natural(field.remote_field.model)
            auto = field.remote_field.through._meta.auto_created
            if auto and field.name not in getattr(obj, "_prefetched_objects_cache", {}):
                # iterator() prefetches only from Django 4.1 on: before, the rows in the same order, one object's
                prefetch_related_objects([obj], m2m_prefetch(field, fmt))
            super().handle_m2m_field(obj, field)

    return BackupSerializer
