from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models


class ActiveManager(models.Manager):
    """A default manager that hides rows: a backup must not (dumpdata's default would)."""

    def get_queryset(self):
        return super().get_queryset().filter(withdrawn=False)


class Author(models.Model):
    name = models.CharField(max_length=100)


class Book(models.Model):
    isbn = models.CharField(max_length=13, primary_key=True)  # a natural, non-integer primary key
    title = models.CharField(max_length=200)
    withdrawn = models.BooleanField(default=False)
    authors = models.ManyToManyField(Author, through="Authorship", related_name="books")
    price = models.DecimalField(max_digits=8, decimal_places=2)
    published = models.DateField(null=True)

    objects = ActiveManager()
    everything = models.Manager()


class Authorship(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)
    position = models.PositiveSmallIntegerField()


class Loan(models.Model):
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="loans")
    book = models.ForeignKey(Book, on_delete=models.PROTECT)
    borrowed = models.DateTimeField()
    returned = models.DateTimeField(null=True)


class Tag(models.Model):
    """A generic relation: points at rows of any model through content types."""

    label = models.SlugField()
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.CharField(max_length=40)
    target = GenericForeignKey("content_type", "object_id")


class RecentLoan(Loan):
    class Meta:
        proxy = True


class LoanCount(models.Model):
    """An unmanaged model over a view: its data is in the SQL; fixtures leave it out."""

    member = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, primary_key=True)
    loans = models.IntegerField()

    class Meta:
        managed = False
        db_table = "library_loancount"
