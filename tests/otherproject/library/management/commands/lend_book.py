import datetime as dt

from django.core.management.base import BaseCommand

from accounts.models import Member
from library.models import Book, Loan


class Command(BaseCommand):
    help = "A business change: one more loan."

    def handle(self, *args, **options):
        Loan.objects.create(
            member=Member.objects.order_by("pk").last(),
            book=Book.everything.order_by("pk").first(),
            borrowed=dt.datetime.now(dt.timezone.utc),
        )
