"""The order of the rows and the natural keys: the same data gives the same bytes in any database."""

from .protocol import FIXTURE_FORMAT

# Models whose primary keys are artefacts of the database they live in (post_migrate creates them in any order):
# dumped with natural primary keys so the fixtures load into any freshly migrated database.
# Their rows are ordered by natural key too (their pks differ between databases; the bytes must not).
NATURAL_PRIMARY = {
    "contenttypes.contenttype": ("app_label", "model"),
    "auth.permission": ("content_type__app_label", "content_type__model", "codename"),
}
# natural keys Django defines for the NATURAL_PRIMARY models, as column paths: what natural_key() returns (the fast
# path writes them from these)
NATURAL_KEYS = {
    "contenttypes.contenttype": ("app_label", "model"),
    "auth.permission": ("codename", "content_type__app_label", "content_type__model"),
}


def is_natural(model):
    return model._meta.label_lower in NATURAL_PRIMARY


def order_of(model, fmt=FIXTURE_FORMAT):
    if fmt >= 2 and is_natural(model):
        return NATURAL_PRIMARY[model._meta.label_lower]
    return (model._meta.pk.name,)


def ordered_queryset(model, fmt=FIXTURE_FORMAT):
    """Every row in pk (or natural key) order, references fetched in bulk: the same data gives the same bytes in any
    database, with no query per object."""
    queryset = model._base_manager.using("default").order_by(*order_of(model, fmt))
    natural_fks = [f.name for f in model._meta.concrete_fields if f.is_relation and is_natural(f.remote_field.model)]
    if natural_fks:
        queryset = queryset.select_related(*natural_fks)
    # a many-to-many with a through model of its own is serialized with that model, like dumpdata
    prefetches = [m2m_prefetch(field, fmt) for field in model._meta.many_to_many
                  if field.remote_field.through._meta.auto_created]  # fmt: skip
    return queryset.prefetch_related(*prefetches) if prefetches else queryset


def m2m_prefetch(field, fmt=FIXTURE_FORMAT):
    """The Prefetch of an auto-created many-to-many: its rows in order_of() the target, natural keys joined."""
    from django.db.models import Prefetch

    target = field.remote_field.model
    related = target._base_manager.order_by(*order_of(target, fmt))
    target_fks = [f.name for f in target._meta.concrete_fields if f.is_relation and is_natural(f.remote_field.model)]
    if is_natural(target) and target_fks:
        related = related.select_related(*target_fks)
    return Prefetch(field.name, queryset=related)


def ordered_objects(model, fmt=FIXTURE_FORMAT, chunk=2000):
    """ordered_queryset's objects, streamed in chunks, each chunk with its prefetches. Django 4.1 and later prefetch
    the chunks of iterator() themselves; before 4.1 iterator() drops prefetch_related, and Django's serializer then
    lists each many-to-many in its target's Meta.ordering (other bytes) with one query per object, so the chunks are
    prefetched here the way 4.1 does it."""
    import django

    queryset = ordered_queryset(model, fmt)
    if django.VERSION >= (4, 1) or not queryset._prefetch_related_lookups:
        return queryset.iterator(chunk_size=chunk)
    return _prefetched_chunks(queryset, chunk)


def _prefetched_chunks(queryset, chunk):
    from itertools import islice

    from django.db.models import prefetch_related_objects

    objects = queryset.iterator(chunk_size=chunk)
    while True:
        batch = list(islice(objects, chunk))
        if not batch:
            return
        prefetch_related_objects(batch, *queryset._prefetch_related_lookups)
        yield from batch
