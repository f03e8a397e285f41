"""The sample project with its field zoo and naive datetimes (USE_TZ = False) in a time zone with summer time: the
fixtures write the local time the database gives, as Django reads it."""

from .settings_zoo import *  # noqa: F403 - the same project, two settings changed

USE_TZ = False
TIME_ZONE = "Europe/Paris"
