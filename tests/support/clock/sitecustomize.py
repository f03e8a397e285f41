"""A host whose clock is off: put this directory on PYTHONPATH and set CHECKNINER_TEST_CLOCK_OFFSET (seconds) for the
command line under test. Loaded before the engine, so every `from .units import utcnow` gets the shifted clock."""

import datetime as dt
import os

_OFFSET = float(os.environ.get("CHECKNINER_TEST_CLOCK_OFFSET") or 0)
if _OFFSET:
    from checkniner_backup import units

    _real = units.utcnow
    units.utcnow = lambda: _real() + dt.timedelta(seconds=_OFFSET)
