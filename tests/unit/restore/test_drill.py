"""The drill's scratch databases: named by time and pid, recognised, dropped when a killed drill left them."""

import datetime as dt

from checkniner_backup.restore import drill


def test_scratch_names_and_age():
    now = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    name = drill.scratch_name(now)
    assert name.startswith("cnb_verify_20240501120000_")
    assert drill.scratch_age(name, now) == dt.timedelta(0)
    assert drill.scratch_age(name, now + dt.timedelta(hours=2)) > drill.SCRATCH_MAX_AGE
    assert drill.scratch_age("cnb_verify_something_else", now) is None
    assert drill.scratch_age("app", now) is None
