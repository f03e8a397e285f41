"""The retention policy computed the obvious way, independently of checkniner_backup.retention: group every archive by
its bucket, take the newest of each bucket, keep the N most recent buckets. Shared by the unit and integration tests.
"""

import datetime as dt

UTC = dt.timezone.utc
STAMP = "%Y-%m-%dT%H%M%SZ"
START = dt.datetime(2025, 3, 1, tzinfo=UTC)


def history(days, minutes=5, start=START, suffix=".tar.gz"):
    count = days * 24 * 60 // minutes
    return [(start + dt.timedelta(minutes=minutes * i)).strftime(STAMP) + suffix for i in range(count)]


def when(name):
    return dt.datetime.strptime(name[:18], STAMP).replace(tzinfo=UTC)


BUCKETS = {
    "hourly": lambda t: (t.year, t.month, t.day, t.hour),
    "daily": lambda t: (t.year, t.month, t.day),
    "weekly": lambda t: tuple(t.isocalendar())[:2],
    "monthly": lambda t: (t.year, t.month),
}


def expected_keep(names, policy, pinned=()):
    """The policy the obvious way, for one series: newest, everything within, newest of the N latest buckets."""
    times = {name: when(name) for name in names}
    newest = max(names, key=lambda n: (times[n], n))
    keep = {newest} | (set(pinned) & set(names))
    if policy.within_seconds:
        start = times[newest] - dt.timedelta(seconds=policy.within_seconds)
        keep |= {n for n in names if times[n] >= start}
    for tier, bucket in BUCKETS.items():
        newest_in = {}
        for name in names:
            key = bucket(times[name])
            if key not in newest_in or (times[name], name) > (times[newest_in[key]], newest_in[key]):
                newest_in[key] = name
        for key in sorted(newest_in, reverse=True)[: getattr(policy, tier)]:
            keep.add(newest_in[key])
    return keep
