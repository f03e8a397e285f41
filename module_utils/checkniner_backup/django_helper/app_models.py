"""An app's models as the fixture holds them, in dependency order, and the tables behind them."""


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
