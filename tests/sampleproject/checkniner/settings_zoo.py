"""The sample project with its field zoo installed (the app `zoo`: every field type Django ships, for the tests of the
fixtures' exactness); the project the other tests and the benchmarks run is the domain alone."""

from .settings import *  # noqa: F403 - the same project, one app more
from .settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "zoo"]
