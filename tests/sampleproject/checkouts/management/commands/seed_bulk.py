"""Generate roughly N megabytes of business data for benchmarks.

Each run adds a new batch of pilots (with weights) and many checkouts per pilot across a pool of bulk airstrips,
using bulk_create in batches. The size counts the bytes of the row values, which is close to the plain SQL dump size;
the JSON fixtures are larger. Two shapes:

- wide (default): about a thousand checkouts per pilot, each with a free-text note of 8-80 words;
- narrow: a busy real site's rows, many and small: a few hundred checkouts per pilot, ids, foreign keys and a date,
  no notes (1.2 million checkouts and about 3,000 pilots for --megabytes 48).
"""

import datetime
import random

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from checkouts.models import AircraftType, Airstrip, Checkout, PilotWeight

from ._demo_data import AIRCRAFT_TYPES, FIRST_NAMES, LAST_NAMES, note, stamp

BULK_AIRSTRIPS = 250
FIRST_DATE = datetime.date(2010, 1, 1)
MB = 1024 * 1024
SHAPES = {
    # shape: (checkouts per pilot (min, max) or None for a third to all of the combinations, note words or None)
    "wide": (None, (8, 80)),
    "narrow": ((200, 600), None),
}
ROW_BYTES = 40  # a checkout's ids, foreign keys and date, as counted towards --megabytes (its timestamps not)


class Command(BaseCommand):
    help = "Add roughly N MB of pilots, checkouts and pilot weights (bulk_create, in batches)."

    def add_arguments(self, parser):
        parser.add_argument("--megabytes", type=float, required=True, help="approximate size of data to add")
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--seed", type=int, default=None, help="random seed (default: derived from the run)")
        parser.add_argument("--shape", choices=sorted(SHAPES), default="wide", help="rows per pilot and their width")

    def handle(self, *args, megabytes, batch_size, seed, shape, **options):
        if megabytes <= 0:
            raise CommandError("--megabytes must be positive")
        target = int(megabytes * MB)
        # Each run's usernames carry the number of bulk pilots that existed before it: unique across runs.
        existing_bulk = User.objects.filter(username__startswith="bulk").count()
        rng = random.Random(seed if seed is not None else existing_bulk + 1)

        with transaction.atomic():
            strips = self._airstrips()
            types = [
                AircraftType.objects.get_or_create(name=name, defaults={"sorted_position": pos})[0]
                for pos, name in enumerate(AIRCRAFT_TYPES, start=1)
            ]
        combos_per_pilot = [(s.pk, t.pk) for s in strips for t in types]
        per_pilot, words = SHAPES[shape]
        low, high = per_pilot or (len(combos_per_pilot) // 3, len(combos_per_pilot))
        password = make_password("checkniner-bulk")
        pilots_group, _ = Group.objects.get_or_create(name="Pilots")

        written = rows = pilots = 0
        batch = []
        tag = f"{existing_bulk:06d}"
        while written < target:
            with transaction.atomic():
                pilot = User.objects.create(
                    username=f"bulk{tag}-{pilots:05d}",
                    first_name=rng.choice(FIRST_NAMES),
                    last_name=rng.choice(LAST_NAMES),
                    email=f"bulk{tag}-{pilots:05d}@example.org",
                    password=password,
                )
                pilot.groups.add(pilots_group)
                PilotWeight.objects.create(pilot=pilot, weight=rng.randint(55, 110))
            pilots += 1
            written += 200
            # Many checkouts per pilot: a random share of all airstrip/type combinations.
            for strip_pk, type_pk in rng.sample(combos_per_pilot, rng.randint(low, high)):
                text = note(rng, *words) if words else ""
                date = FIRST_DATE + datetime.timedelta(days=rng.randint(0, 5500))
                created = stamp(date, rng)  # set here: bulk_create would call now() twice a row (default, pre_save)
                batch.append(
                    Checkout(
                        pilot_id=pilot.pk,
                        airstrip_id=strip_pk,
                        aircraft_type_id=type_pk,
                        date=date,
                        notes=text,
                        created=created,
                        modified=created,
                    )
                )
                written += len(text) + ROW_BYTES
                if len(batch) >= batch_size:
                    rows += self._flush(batch)
                if written >= target:
                    break
        rows += self._flush(batch)
        self.stdout.write(f"added {pilots} pilots and {rows} checkouts, about {written / MB:.1f} MB of row data")

    @staticmethod
    def _flush(batch):
        with transaction.atomic():
            Checkout.objects.bulk_create(batch)
        n = len(batch)
        batch.clear()
        return n

    @staticmethod
    def _airstrips():
        existing = {s.ident: s for s in Airstrip.objects.filter(ident__startswith="B")}
        missing = [
            Airstrip(ident=f"B{n:04d}", name=f"Bulk strip {n}", position=f"-{3 + n % 3}.{n:04d}, 13{n % 10}.{n:04d}")
            for n in range(1, BULK_AIRSTRIPS + 1)
            if f"B{n:04d}" not in existing
        ]
        Airstrip.objects.bulk_create(missing)
        return list(Airstrip.objects.filter(ident__startswith="B").order_by("ident")[:BULK_AIRSTRIPS])
