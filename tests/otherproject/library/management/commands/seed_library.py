import datetime as dt
from decimal import Decimal

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Member
from library.models import Author, Authorship, Book, Loan, Tag


class Command(BaseCommand):
    help = "Sample data for the library project (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        if Member.objects.exists():
            return
        librarians = Group.objects.create(name="Librarians")
        librarians.permissions.set(Permission.objects.filter(content_type__app_label="library"))
        members = [
            Member.objects.create_user(f"reader{i}@example.org", "pw", display_name=f"Reader {i}") for i in range(5)
        ]
        members[0].groups.add(librarians)
        authors = [Author.objects.create(name=n) for n in ("Saint-Exupéry", "Gann", "Lindbergh")]
        books = []
        for i, title in enumerate(("Vol de nuit", "Fate Is the Hunter", "The Spirit of St. Louis", "Terre des hommes")):
            book = Book.everything.create(
                isbn=f"97800000000{i:02d}", title=title, price=Decimal("12.50") + i, withdrawn=i == 3,
                published=dt.date(1931 + i, 1, 1),
            )  # fmt: skip
            Authorship.objects.create(book=book, author=authors[i % 3], position=1)
            books.append(book)
        when = dt.datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=dt.timezone.utc)
        for i, member in enumerate(members):
            Loan.objects.create(member=member, book=books[i % 4], borrowed=when + dt.timedelta(days=i))
        Tag.objects.create(label="classic", content_type=ContentType.objects.get_for_model(Book), object_id=books[0].pk)
        Tag.objects.create(
            label="staff", content_type=ContentType.objects.get_for_model(Member), object_id=str(members[0].pk)
        )
