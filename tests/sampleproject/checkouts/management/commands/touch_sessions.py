"""A non-business write: create or refresh one django_session row and nothing else."""

import datetime

from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management.base import BaseCommand
from django.utils import timezone

SESSION_KEY = "touchsessions0000000000000000000000000000"[:40]


class Command(BaseCommand):
    help = "Write one django_session row (a write that must not count as a business change)."

    def handle(self, *args, **options):
        now = timezone.now()
        _, created = Session.objects.update_or_create(
            session_key=SESSION_KEY,
            defaults={
                "session_data": SessionStore().encode({"touched_at": now.isoformat()}),
                "expire_date": now + datetime.timedelta(days=14),
            },
        )
        self.stdout.write(f"session {SESSION_KEY} {'created' if created else 'updated'} at {now.isoformat()}")
