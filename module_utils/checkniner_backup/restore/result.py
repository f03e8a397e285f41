"""What a restore and the restore drill found: their typed results, and the proof both are made of. as_dict() gives
the JSON document (`restore --json`, `verify --json`) and the module's RETURN keys, in the order they always had."""

from dataclasses import dataclass, field, fields
from typing import Dict, List, Optional


def _unset():
    return {"expected": None, "actual": None}


@dataclass
class Proof:
    """What prove_sql (and the fixtures load) found about the restored database. A field left None was not looked at,
    and keeps the result's value."""

    ok: bool = False
    tables: Optional[dict] = None  # {table: {match, expected, actual}}: every table's row count
    extra_tables: Optional[list] = None  # in the target, not in the archive: left as they are
    schema: Optional[dict] = None  # {match, differences}
    apps: Optional[dict] = None  # {app: {match, expected, actual}}: the business data
    fingerprint: Optional[dict] = None  # {method, expected, actual, ...}
    django: Optional[dict] = None  # {apps, fingerprint}: as the application's Django reads it (the drill)

    def apply(self, result):
        """Onto a RestoreResult or a DrillResult: what this proof looked at."""
        for name in ("tables", "extra_tables", "schema", "apps", "fingerprint", "django"):
            value = getattr(self, name)
            if value is not None:
                setattr(result, name, value)

    def differences(self):
        """What differs from the archive, in the order a person reads it: apps, tables, schema objects."""
        bad = [a for a, v in (self.apps or {}).items() if not v["match"]]
        bad += [t for t, v in (self.tables or {}).items() if not v["match"]]
        return bad + (self.schema or {}).get("differences", [])


def _as_dict(result, optional=("schema", "django")):
    """The dataclass's fields in order; the optional ones only once a proof set them, as the dict results had."""
    doc = {}
    for f in fields(result):
        value = getattr(result, f.name)
        if f.name in optional and value is None:
            continue
        doc[f.name] = value
    return doc


@dataclass
class RestoreResult:
    """restore(): ok (the proof holds), changed, check_mode, the archive and where it came from, the target, and the
    proof (fingerprint, apps, tables in SQL mode, fixtures loaded in fixtures mode, extra_tables), warnings, message,
    timings {phase: seconds}, duration."""

    ok: bool = False
    changed: bool = False
    check_mode: bool = False
    archive: Optional[str] = None
    source: Optional[str] = None
    mode: str = "sql"
    target: Optional[str] = None
    target_database: Optional[str] = None
    live: bool = False
    created_database: bool = False
    safety_archive: Optional[str] = None
    fingerprint: dict = field(default_factory=_unset)
    apps: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    fixtures: List[dict] = field(default_factory=list)  # [{app, objects}] in load order
    extra_tables: list = field(default_factory=list)
    signed_by: Optional[str] = None  # the fingerprint of the key that signed the archive; None: unsigned
    warnings: List[str] = field(default_factory=list)
    message: str = ""
    timings: Dict[str, float] = field(default_factory=dict)
    schema: Optional[dict] = None
    django: Optional[dict] = None
    duration: float = 0.0

    def as_dict(self):
        return _as_dict(self)


@dataclass
class DrillLocation:
    """One copy the drill looked at: the local directory, an S3 destination, or the path given."""

    location: str
    where: Optional[str]
    archive: Optional[str] = None
    sha256: Optional[str] = None
    ok: bool = False
    message: str = ""
    proven_with: Optional[str] = None  # the location whose restore proved this byte-for-byte equal copy

    def as_dict(self):
        return _as_dict(self, optional=())


@dataclass
class DrillResult:
    """verify(): the first restored location's drill at the top level (ok for every location, message naming those
    that failed), and one DrillLocation per location."""

    ok: bool = False
    archive: Optional[str] = None
    source: Optional[str] = None
    scratch_database: Optional[str] = None
    dropped: bool = False
    fingerprint: dict = field(default_factory=_unset)
    apps: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    missing_migrations: List[str] = field(default_factory=list)
    stale_dropped: List[str] = field(default_factory=list)
    signed_by: Optional[str] = None
    warnings: List[str] = field(default_factory=list)
    message: str = ""
    timings: Dict[str, float] = field(default_factory=dict)
    extra_tables: Optional[list] = None
    schema: Optional[dict] = None
    django: Optional[dict] = None
    locations: List[DrillLocation] = field(default_factory=list)
    duration: float = 0.0

    def as_dict(self):
        doc = _as_dict(self, optional=("extra_tables", "schema", "django"))
        doc["locations"] = [row.as_dict() for row in self.locations]
        return doc
