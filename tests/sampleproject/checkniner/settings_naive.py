"""The sample project with naive datetimes (USE_TZ = False) in a time zone with summer time: the fixtures write the
local time the database gives, as Django reads it."""

from .settings import *  # noqa: F403 - the same project, one setting changed

USE_TZ = False
TIME_ZONE = "Europe/Paris"
