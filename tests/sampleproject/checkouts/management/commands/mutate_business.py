"""A business change: insert one checkout, rename one airstrip, delete one checkout."""

import datetime

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from checkouts.models import AircraftType, Airstrip, Checkout

RENAME_SUFFIX = " (renamed)"


class Command(BaseCommand):
    help = "Insert one checkout, update one airstrip name and delete one checkout, in one transaction."

    @transaction.atomic
    def handle(self, *args, **options):
        taken = set(Checkout.objects.values_list("pilot_id", "airstrip_id", "aircraft_type_id"))
        free = next(
            (
                (p, s, t)
                for p in User.objects.order_by("pk").values_list("pk", flat=True)
                for s in Airstrip.objects.order_by("pk").values_list("pk", flat=True)
                for t in AircraftType.objects.order_by("pk").values_list("pk", flat=True)
                if (p, s, t) not in taken
            ),
            None,
        )
        if free is None:
            raise CommandError("no free pilot/airstrip/aircraft type combination left; run seed_demo first")
        inserted = Checkout.objects.create(
            pilot_id=free[0],
            airstrip_id=free[1],
            aircraft_type_id=free[2],
            date=timezone.now().date() - datetime.timedelta(days=1),
            notes="Added by mutate_business.",
        )

        strip = Airstrip.objects.order_by("pk").first()
        old_name = strip.name
        strip.name = old_name[: -len(RENAME_SUFFIX)] if old_name.endswith(RENAME_SUFFIX) else old_name + RENAME_SUFFIX
        strip.save(update_fields=["name"])

        victim = Checkout.objects.exclude(pk=inserted.pk).order_by("pk").first()
        victim_pk = victim.pk
        victim.delete()

        self.stdout.write(
            f"inserted checkout {inserted.pk}; renamed airstrip {strip.ident} {old_name!r} -> {strip.name!r}; "
            f"deleted checkout {victim_pk}"
        )
