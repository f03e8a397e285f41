"""Run by tests/integration/test_fixture_fields.py with the sample project's Django: one app's fixture written three
ways in one snapshot, and compared.

    python fixture_fields.py APP OUTDIR   # DATABASE_URL, DJANGO_SETTINGS_MODULE in the environment

1. the helper as it dumps (the fast path where it applies),
2. the helper with the fast path turned off (Django's serializer for every model),
3. Django's own serializer, unmodified (`serializers.serialize("json", ...)`, natural foreign keys, every model in
   pk order), with the helper's full-precision encoder.

Prints one JSON document: the fast path's declines (model -> why), the path of each model (and whether a dump after
2 takes the same ones), the object count, and every difference: 1 and 2 byte for byte, 1 and 3 object by object (the
text of each object, and its value parsed).
"""

import json
import os
import sys
from pathlib import Path

from checkniner_backup.django_helper import commands
from checkniner_backup.django_helper.app_models import app_models
from checkniner_backup.django_helper.fast_path import read_settings
from checkniner_backup.django_helper.ordering import is_natural, order_of
from checkniner_backup.django_helper.serializer import encoder_class

HERE = Path(__file__).resolve().parent
SAMPLEPROJECT = HERE.parent / "sampleproject"


def stock_objects(app_config):
    """Django's serializer as shipped, every model in the helper's order: natural keys where the helper uses them
    (references to content types and permissions, which have no pk of their own), pks everywhere else."""
    from django.core import serializers

    objects = []
    for model in app_models(app_config):
        queryset = model._base_manager.order_by(*order_of(model))
        encoder, natural_pk = encoder_class(), is_natural(model)
        by_pk, by_natural = (
            json.loads(serializers.serialize("json", queryset, cls=encoder, use_natural_foreign_keys=natural_fk,
                                             use_natural_primary_keys=natural_pk))
            for natural_fk in (False, True)
        )  # fmt: skip
        for plain, natural in zip(by_pk, by_natural):
            for name in plain["fields"]:
                field = model._meta.get_field(name)
                if field.is_relation and is_natural(field.remote_field.model):
                    plain["fields"][name] = natural["fields"][name]
                elif field.many_to_many:  # the helper lists them in pk order, Django in the target's Meta.ordering
                    plain["fields"][name] = sorted(plain["fields"][name])
            objects.append(plain)
    return objects


def main(label, outdir):
    sys.path.insert(0, str(SAMPLEPROJECT))
    import django

    django.setup()
    from django.apps import apps
    from django.db import connections, transaction

    app_config = apps.get_app_config(label)
    with transaction.atomic():
        with connections["default"].cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            read_settings(cursor)
        fast = commands.dump_app(app_config, os.path.join(outdir, "fast.json"))
        real_plan = commands.fast_plan  # dump_app's, as it looks it up
        commands.fast_plan = lambda *args: (None, "turned off")
        try:
            slow = commands.dump_app(app_config, os.path.join(outdir, "django.json"))
        finally:
            commands.fast_plan = real_plan
        # once Django's serializer has queried every model (as a restore's proof dumps again after loaddata)
        again = commands.dump_app(app_config, os.path.join(outdir, "again.json"))
        stock = stock_objects(app_config)
    fast_bytes = Path(outdir, "fast.json").read_bytes()
    lines = fast_bytes.decode("utf-8").split("\n")  # not splitlines(): U+2028 is no line break here
    texts = [line.removeprefix("[").removeprefix(", ") for line in lines if line not in ("]", "")]
    differences = []
    if fast_bytes != Path(outdir, "django.json").read_bytes():
        differences.append("the fast path's file differs from the helper's Django-only file")
    if len(texts) != len(stock):
        differences.append(f"{len(texts)} objects against Django's {len(stock)}")
    for text, expected in zip(texts, stock):
        expected_text = json.dumps(expected, ensure_ascii=False)  # Django's text of one object (no indent)
        if json.loads(text, parse_constant=str) != json.loads(expected_text, parse_constant=str):  # NaN == NaN
            differences.append(f"value: {text} != {expected_text}")
        elif text != expected_text:
            differences.append(f"text: {text} != {expected_text}")
    paths = fast["models"]
    json.dump(
        {"declined": {m: p["reason"] for m, p in paths.items() if p["path"] == "serializer"},
         "paths": {m: p["path"] for m, p in paths.items()}, "paths_again": again["models"] == paths,
         "objects": fast["objects"],
         "same_digest": fast["sha256"] == slow["sha256"], "differences": differences[:20],
         "models": sorted({o["model"] for o in stock})},
        sys.stdout,
    )  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:])
