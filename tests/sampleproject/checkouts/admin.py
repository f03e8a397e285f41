from django.contrib import admin

from .models import AircraftType, Airstrip, Checkout, PilotWeight


@admin.register(Airstrip)
class AirstripAdmin(admin.ModelAdmin):
    list_display = ["ident", "name", "is_base"]
    list_filter = ["is_base"]
    search_fields = ["ident", "name"]
    filter_horizontal = ["bases"]


@admin.register(AircraftType)
class AircraftTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "sorted_position"]


@admin.register(Checkout)
class CheckoutAdmin(admin.ModelAdmin):
    list_display = ["pilot", "airstrip", "aircraft_type", "date"]
    list_filter = ["aircraft_type", "airstrip__is_base"]
    date_hierarchy = "date"


@admin.register(PilotWeight)
class PilotWeightAdmin(admin.ModelAdmin):
    list_display = ["pilot", "weight"]
