"""Seed a small, deterministic demo data set, business and non-business tables alike.

Running it twice leaves the business data as it was (get_or_create with fixed values).
"""

import datetime
import random

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from checkouts.models import AircraftType, Airstrip, Checkout, PilotWeight

from ._demo_data import AIRCRAFT_TYPES, AIRSTRIPS, FIRST_NAMES, LAST_NAMES, note, stamp

PILOT_COUNT = 10
CHECKOUT_COUNT = 100
FIRST_DATE = datetime.date(2019, 1, 7)

GROUP_PERMISSIONS = {
    "Pilots": ["view_checkout", "view_airstrip", "view_aircrafttype", "change_pilotweight"],
    "Schedulers": ["view_checkout", "add_checkout", "change_checkout", "view_pilotweight"],
}


class Command(BaseCommand):
    help = "Seed demo pilots, airstrips, aircraft types, checkouts, pilot weights, sessions and admin log entries."

    @transaction.atomic
    def handle(self, *args, **options):
        rng = random.Random(9)
        clock = random.Random(13)  # created/modified: their own stream, so the rest of the data is as it always was

        def stamps(day):
            created = stamp(day, clock)
            return {"created": created, "modified": created}

        password = make_password("checkniner-demo")  # hash once: PBKDF2 per user would dominate the run time

        groups = {}
        for group_name, codenames in GROUP_PERMISSIONS.items():
            group, _ = Group.objects.get_or_create(name=group_name)
            group.permissions.set(
                Permission.objects.filter(content_type__app_label="checkouts", codename__in=codenames)
            )
            groups[group_name] = group

        admin, created = User.objects.get_or_create(
            username="admin",
            defaults={"email": "admin@example.org", "is_staff": True, "is_superuser": True, "password": password},
        )

        pilots = []
        for i in range(PILOT_COUNT):
            first, last = FIRST_NAMES[i % len(FIRST_NAMES)], LAST_NAMES[i % len(LAST_NAMES)]
            pilot, _ = User.objects.get_or_create(
                username=f"pilot{i + 1:02d}",
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{first.lower()}.{last.lower()}@example.org",
                    "password": password,
                },
            )
            pilot.groups.add(groups["Pilots"])
            if i < 2:
                pilot.groups.add(groups["Schedulers"])
            PilotWeight.objects.get_or_create(
                pilot=pilot, defaults={"weight": 60 + (i * 7) % 35, **stamps(FIRST_DATE - datetime.timedelta(days=i))}
            )
            pilots.append(pilot)

        airstrips = []
        for ident, name, position, is_base in AIRSTRIPS:
            strip, _ = Airstrip.objects.get_or_create(
                ident=ident,
                defaults={"name": name, "position": position, "is_base": is_base, **stamps(FIRST_DATE)},
            )
            airstrips.append(strip)
        bases = [s for s in airstrips if s.is_base]
        for n, strip in enumerate(s for s in airstrips if not s.is_base):
            strip.bases.add(bases[n % len(bases)])
            if n % 4 == 0:
                strip.bases.add(bases[(n + 1) % len(bases)])

        types = [
            AircraftType.objects.get_or_create(name=name, defaults={"sorted_position": pos, **stamps(FIRST_DATE)})[0]
            for pos, name in enumerate(AIRCRAFT_TYPES, start=1)
        ]

        combos = [(p, s, t) for p in pilots for s in airstrips for t in types[:4]]
        for n, (pilot, strip, actype) in enumerate(rng.sample(combos, CHECKOUT_COUNT)):
            Checkout.objects.get_or_create(
                pilot=pilot,
                airstrip=strip,
                aircraft_type=actype,
                defaults={
                    "date": FIRST_DATE + datetime.timedelta(days=11 * n),
                    "notes": note(rng),
                    **stamps(FIRST_DATE + datetime.timedelta(days=11 * n)),
                },
            )

        # Non-business data: sessions and admin log entries, so that "only business changes count" is testable.
        for n, user in enumerate([admin, *pilots[:3]]):
            Session.objects.update_or_create(
                session_key=f"seeddemo{n:032d}",
                defaults={
                    "session_data": SessionStore().encode({"_auth_user_id": str(user.pk), "seed": n}),
                    "expire_date": timezone.now() + datetime.timedelta(days=14),
                },
            )
        if created or not LogEntry.objects.exists():
            ct = ContentType.objects.get_for_model(Airstrip)
            for strip in airstrips[:5]:
                LogEntry.objects.create(
                    user=admin,
                    content_type=ct,
                    object_id=str(strip.pk),
                    object_repr=str(strip)[:200],
                    action_flag=ADDITION,
                    change_message='[{"added": {}}]',
                )
            LogEntry.objects.create(
                user=admin,
                content_type=ct,
                object_id=str(airstrips[0].pk),
                object_repr=str(airstrips[0])[:200],
                action_flag=CHANGE,
                change_message='[{"changed": {"fields": ["Position"]}}]',
            )

        self.stdout.write(
            f"seeded: {User.objects.count()} users, {Airstrip.objects.count()} airstrips, "
            f"{AircraftType.objects.count()} aircraft types, {Checkout.objects.count()} checkouts, "
            f"{Session.objects.count()} sessions, {LogEntry.objects.count()} admin log entries"
        )
