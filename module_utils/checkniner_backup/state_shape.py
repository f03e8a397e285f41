"""What a valid state.json looks like (state.py's module docstring lists each key): a check per top-level key, so that
a file damaged by hand or by a crash of an older version is set aside with the key named, never half-trusted."""

import datetime as dt


def _iso(value):
    if not isinstance(value, str):
        return False
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _opt(kind):
    return lambda value: value is None or isinstance(value, kind)


def _entries(check):
    return lambda value: isinstance(value, dict) and all(isinstance(k, str) and check(v) for k, v in value.items())


def _locations(value):
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


def _fields(**checks):
    """A dict whose listed keys, when present, pass their check."""
    return lambda value: isinstance(value, dict) and all(k not in value or c(value[k]) for k, c in checks.items())


_STR, _INT = _opt(str), _opt(int)


def is_count(value):
    """A whole number, 0 or more (a counter of state.json, or a count)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _counter(value):
    return is_count(value) or _entries(is_count)(value)


def _opt_iso(value):
    return value is None or _iso(value)


_ARCHIVE = _fields(sha256=_STR, size=_INT, fingerprint=_STR, sequence=_INT)
_DIGESTS = _fields(fingerprint=_STR, tables=_entries(_entries(_opt(dict))), migrations=_opt(dict))
# what each top-level key must look like; a key not listed here is kept as it is
SHAPE = {
    "archives": _entries(_ARCHIVE),
    "destinations": _entries(_fields(reconciled=_iso, probed=_iso)),
    "last": _fields(name=_STR, fingerprint=_STR, sha256=_STR, size=_INT),
    "last_change": _iso,
    "sequence": _INT,
    "last_run": _fields(at=_iso, outcome=_STR, reason=_STR, error=_STR, name=_STR, size=_INT),
    "last_success": _iso,
    "serializer_models": _fields(at=_iso, models=_entries(lambda v: isinstance(v, str))),
    "last_drill": _fields(at=_iso, outcome=_STR, archive=_STR, error=_STR, locations=_locations),
    "last_drill_success": _iso,
    "last_prune": _fields(at=_iso, outcome=_STR, deleted=_INT, error=_STR),
    "last_prune_success": _iso,
    "counters": _entries(_counter),
    "unauthenticated": _entries(is_count),
    "notifications": _fields(
        jobs=_entries(_fields(failing=_opt(bool), cause=_STR, since=_opt_iso, notified=_opt_iso)),
        undelivered_total=_INT,
        last_undelivered=_opt_iso,
    ),
    "precheck": _fields(fingerprint=_STR),
    "statistics": _fields(fingerprint=_STR, skipped=_INT, why=_STR),
    "digests": lambda value: value == {} or (_DIGESTS(value) and "tables" in value and "migrations" in value),
}


def problem_of(doc):
    """Why `doc` is not a state document, or None: "not a JSON object", "of the wrong shape (key)"."""
    if not isinstance(doc, dict):
        return "not a JSON object"
    for key, check in SHAPE.items():
        if key in doc and not check(doc[key]):
            return f"of the wrong shape ({key})"
    return None
