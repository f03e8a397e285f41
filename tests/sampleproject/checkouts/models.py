"""Domain of checkniner: which pilot is checked out to fly which aircraft type into which airstrip.

Every model is a django-model-utils TimeStampedModel, as the original application's are: fields `created`
(AutoCreatedField) and `modified` (AutoLastModifiedField), subclasses of DateTimeField, on every row.
"""

from django.conf import settings
from django.db import models
from model_utils.models import TimeStampedModel


class Airstrip(TimeStampedModel):
    ident = models.CharField(max_length=8, unique=True)
    name = models.CharField(max_length=100)
    position = models.CharField(max_length=64, blank=True, help_text="Latitude/longitude, free text")
    is_base = models.BooleanField(default=False)
    bases = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="attached",
        limit_choices_to={"is_base": True},
        help_text="Bases this airstrip is flown from",
    )

    class Meta:
        ordering = ["ident"]

    def __str__(self):
        return f"{self.ident} ({self.name})"


class AircraftType(TimeStampedModel):
    name = models.CharField(max_length=20, unique=True)
    sorted_position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["sorted_position", "name"]

    def __str__(self):
        return self.name


class Checkout(TimeStampedModel):
    pilot = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="checkouts")
    airstrip = models.ForeignKey(Airstrip, on_delete=models.CASCADE, related_name="checkouts")
    aircraft_type = models.ForeignKey(AircraftType, on_delete=models.CASCADE, related_name="checkouts")
    date = models.DateField()
    notes = models.TextField(blank=True)

    class Meta:
        unique_together = [("pilot", "airstrip", "aircraft_type")]
        ordering = ["pilot", "airstrip", "aircraft_type"]
        indexes = [
            models.Index(fields=["date"], name="checkout_date_idx"),
            models.Index(fields=["airstrip", "aircraft_type"], name="checkout_strip_type_idx"),
        ]

    def __str__(self):
        return f"{self.pilot} @ {self.airstrip.ident} in {self.aircraft_type} on {self.date}"


class PilotWeight(TimeStampedModel):
    pilot = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="weight")
    weight = models.PositiveIntegerField(help_text="Kilograms")

    def __str__(self):
        return f"{self.pilot}: {self.weight} kg"
