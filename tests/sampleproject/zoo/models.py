"""A field zoo: every field type Django ships (and PostgreSQL's ArrayField, django-model-utils' fields and subclasses of
built-in fields, which do and do not change what a dump calls), to prove that the fixtures write each
value as Django's serializer does, at full precision, and load back exactly (tests/integration/test_fixture_fields.py).

Installed only by the settings checkniner.settings_zoo (and settings_naive): the sample project the other tests, the
benchmarks and Molecule run is the domain alone. The tests fill it (`manage.py seed_zoo`) where they need it.
"""

import uuid

from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.fields import ArrayField
from django.db import models
from model_utils import Choices
from model_utils import fields as model_utils_fields
from model_utils.models import StatusModel, TimeStampedModel


class Token(models.Model):
    """A UUID primary key, referenced by a foreign key and a many-to-many."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    label = models.CharField(max_length=40)

    class Meta:
        ordering = ["id"]


class Code(models.Model):
    """A text primary key, referenced by a foreign key."""

    code = models.CharField(max_length=20, primary_key=True)


class Specimen(models.Model):
    """One field of each type Django ships, each nullable so that null is written too."""

    big = models.BigIntegerField(null=True)
    small = models.SmallIntegerField(null=True)
    integer = models.IntegerField(null=True)
    positive = models.PositiveIntegerField(null=True)
    positive_small = models.PositiveSmallIntegerField(null=True)
    positive_big = models.PositiveBigIntegerField(null=True)
    flag = models.BooleanField(null=True)
    char = models.CharField(max_length=200, null=True)
    text = models.TextField(null=True)
    slug = models.SlugField(null=True)
    email = models.EmailField(null=True)
    url = models.URLField(null=True)
    ip = models.GenericIPAddressField(null=True)
    file = models.FileField(null=True, blank=True)
    path = models.FilePathField(path="/tmp", null=True)  # noqa: S108 - a name, never opened
    date = models.DateField(null=True)
    moment = models.DateTimeField(null=True)
    time = models.TimeField(null=True)
    duration = models.DurationField(null=True)
    amount = models.DecimalField(max_digits=30, decimal_places=10, null=True)
    price = models.DecimalField(max_digits=8, decimal_places=2, null=True)
    real = models.FloatField(null=True)
    uuid = models.UUIDField(null=True)
    blob = models.BinaryField(null=True)
    data = models.JSONField(null=True)
    numbers = ArrayField(models.IntegerField(null=True), null=True)
    words = ArrayField(models.CharField(max_length=50), null=True)
    parent = models.ForeignKey("self", null=True, on_delete=models.SET_NULL)
    token = models.ForeignKey(Token, null=True, on_delete=models.SET_NULL, related_name="specimens")
    code = models.ForeignKey(Code, null=True, on_delete=models.SET_NULL)
    kind = models.ForeignKey(ContentType, null=True, on_delete=models.SET_NULL)  # a natural key
    twin = models.OneToOneField(Token, null=True, on_delete=models.SET_NULL, related_name="twin")
    tokens = models.ManyToManyField(Token, blank=True, related_name="collections")
    permissions = models.ManyToManyField("auth.Permission", blank=True)  # natural keys


class Tags(models.TextField):
    """A custom field: a list kept as comma-separated text, serialized by its own value_to_string."""

    def from_db_value(self, value, expression, connection):
        return None if value is None else [t for t in value.split(",") if t]

    def to_python(self, value):
        if value is None or isinstance(value, list):
            return value
        return [t for t in value.split(",") if t]

    def get_prep_value(self, value):
        return None if value is None else ",".join(value)

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        return None if value is None else ",".join(value)


class Labelled(models.Model):
    """A model with a custom field: Django's serializer writes it (the fast path declines what it cannot prove)."""

    specimen = models.ForeignKey(Specimen, on_delete=models.CASCADE)
    tags = Tags(null=True)


# -- subclasses of built-in fields: django-model-utils' and our own -------------------------------------------------
# The fast path writes a subclass as its parent when nothing a dump calls differs (django_helper/inheritance.py); the
# fields below that do change it really write other bytes, so a wrong decision shows in the byte-for-byte test.


class Stamped(TimeStampedModel, StatusModel):
    """django-model-utils' fields as the original application has them: created and modified (TimeStampedModel),
    status and status_changed (StatusModel: a StatusField and a MonitorField), its UUIDField as the primary key."""

    STATUS = Choices("draft", "published", "archived")
    id = model_utils_fields.UUIDField(primary_key=True, version=4, editable=False)
    published_at = model_utils_fields.MonitorField(monitor="status", when=["published"], null=True, default=None)


class Moment(models.DateTimeField):
    """A subclass that changes only what loaddata and forms call: written as a DateTimeField."""

    def to_python(self, value):
        return super().to_python(value)

    def formfield(self, **kwargs):
        return super().formfield(**kwargs)


class Lowered(models.CharField):
    """Lower-cases what it saves (get_prep_value): a dump reads the column as it is, like a CharField's."""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return value.lower() if isinstance(value, str) else value


class Described:
    """A mixin with nothing of the read path."""

    def describe(self):
        return f"{self.name} ({self.__class__.__name__})"


class Cents(Described, models.DecimalField):
    pass


class Counter(models.BigIntegerField):
    pass


class Inherited(models.Model):
    """Subclasses that inherit their parent's read path, and references to a subclass-keyed model: the fast path."""

    stamped = models.ForeignKey(Stamped, null=True, on_delete=models.SET_NULL, related_name="+")
    moment = Moment(null=True)
    name = Lowered(max_length=50, null=True)
    amount = Cents(max_digits=12, decimal_places=4, null=True)
    count = Counter(null=True)
    created = model_utils_fields.AutoCreatedField()
    others = models.ManyToManyField(Stamped, blank=True, related_name="inherited")


class Shouting(models.CharField):
    """Writes its text in capitals (value_to_string): Django's serializer must write this model."""

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        return None if value is None else value.upper()


class Shouted(models.Model):
    name = Shouting(max_length=50, null=True)


class Seconds(models.DateTimeField):
    """Reads its times to the second (from_db_value): Django's serializer must write this model."""

    def from_db_value(self, value, expression, connection):
        return None if value is None else value.replace(microsecond=0)


class Truncated(models.Model):
    moment = Seconds(null=True)


class Article(models.Model):
    """django-model-utils' SplitField: a hidden excerpt column, a descriptor of its own, value_to_string."""

    body = model_utils_fields.SplitField()
