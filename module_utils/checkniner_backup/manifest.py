"""manifest.json: the one module that builds an archive's manifest and reads its meaning (pgBackRest's manifest).

The manifest is the archive's first member. It records the format version, time, host, database, server and
pg_dump versions, the snapshot id, every member's sha256 and size, the business fingerprint (fixtures) and the
business tables' row digests (SQL), the latest applied migration per app, and the path that wrote each model's objects
(`models`: {model: {path: fast | serializer, reason}}; absent in archives written before it was recorded). archive.py
reads and writes the tar around it; what the fields mean is decided here.
"""

import os
import socket
from dataclasses import dataclass

from . import __version__
from .archive import FORMAT_VERSION, read_manifest
from .django_helper.protocol import FAST, SERIALIZER, Key
from .errors import BackupError, IntegrityError
from .fingerprint import FIXTURE_FORMAT, business_fingerprint, file_sha256, sql_fingerprint

FORMAT = "checkniner-backup"


def build(capture, name):
    """The manifest of the archive `name` packaged from a complete snapshot (archive_writer.Capture: run and safety
    archives alike).

    capture.sql_only: why there are no fixtures (the application's Django could not read a damaged database): the
    archive then names no business app, so its restore is proven by row counts and schema, not by fixtures it does
    not have.
    """
    config, preflight, snap, sql_only = capture.config, capture.preflight, capture.snap, capture.sql_only
    info = preflight.info
    members = {f"{info['database']}.sql": snap.sql}
    for label in sorted(snap.fixtures):
        fx = snap.fixtures[label]
        members[f"{label}.json"] = {"sha256": fx["sha256"], "size": fx["size"], "objects": fx["objects"]}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "created": capture.taken_at.isoformat(),
        "host": socket.gethostname(),
        # the prefixes it was written for: a copy of it under another host's prefix is not that host's archive
        "prefixes": sorted({d.prefix for d in config.destinations if getattr(d, "prefix", None) is not None}),
        "database": info["database"],
        "server_version": info["server_version"],
        "pg_dump_version": preflight.pg_dump_version,
        "tool_version": __version__,
        "snapshot": capture.snapshot_id,
        "apps": sorted(snap.fixtures),
        "business_apps": [] if sql_only else list(config.apps),
        "business_fixtures": {a: snap.fixtures[a]["sha256"] for a in config.apps if a in snap.fixtures},
        "fingerprint": fingerprint_of(config.apps, snap),
        "fixture_format": FIXTURE_FORMAT,
        "table_digests": snap.table_digests,
        "sql_fingerprint": sql_fingerprint(snap.table_digests),
        "members": members,
        "migrations": snap.migrations,
        # which models Django's serializer wrote, object by object, and why: what makes a dump slow
        "models": paths_of(snap),
        "schema_digests": snap.schema_digests,
        **({"sql_only": sql_only} if sql_only else {}),
        # the host's save sequence: `latest` is the authenticated archive with the highest, whatever its name says
        **({"sequence": capture.sequence} if capture.sequence is not None else {}),
    }


def model_paths(*recorded):
    """{model: {path[, reason]}} merged from {model: entry} documents (the helper's, one an app, or a manifest's),
    checked as they come from outside: a path is FAST or SERIALIZER, a reason one line; anything else is left out."""
    paths = {}
    for entries in recorded:
        for model, entry in entries.items() if isinstance(entries, dict) else ():
            path = entry.get(Key.PATH) if isinstance(entry, dict) else None
            if path == FAST:
                paths[model] = {Key.PATH: FAST}
            elif path == SERIALIZER:
                reason = entry.get(Key.REASON)
                reason = reason.strip().splitlines()[0] if isinstance(reason, str) and reason.strip() else "unknown"
                paths[model] = {Key.PATH: SERIALIZER, Key.REASON: reason}
    return dict(sorted(paths.items()))


def paths_of(snap):
    """model_paths() of a snapshot's fixtures (snapshot.Snapshot)."""
    return model_paths(*(fx.get(Key.MODELS) for fx in snap.fixtures.values()))


def serializer_models(paths):
    """{model: reason} of the models Django's serializer wrote, from model_paths()."""
    return {model: entry[Key.REASON] for model, entry in paths.items() if entry[Key.PATH] == SERIALIZER}


def fingerprint_of(apps, snap):
    return business_fingerprint(apps, {k: v["sha256"] for k, v in snap.fixtures.items()})


def member_files(manifest, workdir):
    """[(member name, file in workdir)]: the SQL first, then the fixtures, as the archive stores them."""
    return [(member, os.path.join(workdir, member)) for member in sorted(manifest["members"], key=_sql_first)]


def _sql_first(member):
    return (not member.endswith(".sql"), member)


@dataclass(frozen=True)
class Manifest:
    """The manifest of an archive about to be restored, checked to be one of ours (check())."""

    doc: dict

    @classmethod
    def check(cls, doc, archive_name):
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or not doc.get("database"):
            raise IntegrityError(
                f"{archive_name} has no checkniner-backup manifest (format, database): not one of our archives"
            )
        if f"{doc['database']}.sql" not in (doc.get("members") or {}):
            raise IntegrityError(f"{archive_name} holds no {doc['database']}.sql: not a complete archive")
        return cls(doc)

    def check_identity(self, fetched_name, source, destination=None):
        """The archive is the one its signed manifest says it is: its own name (an old genuine archive copied under a
        later name would otherwise restore as `latest`), and, from an S3 destination, a prefix it was written for.
        Archives written before the manifest said so are not checked. Returns warnings; raises IntegrityError."""
        recorded = self.doc.get("name")
        clear = fetched_name[: -len(".gpg")] if fetched_name.endswith(".gpg") else fetched_name
        refused = "refused before any database was touched"
        if recorded and recorded != clear:
            if source == "path":  # a file the user named: they may have renamed it
                return [f"{fetched_name} holds the signed manifest of {recorded}: restored as {recorded}"]
            raise IntegrityError(
                f"{fetched_name} holds the signed manifest of {recorded}: an archive copied under another name (a "
                f"rollback to older data?), {refused}"
            )
        prefixes = self.doc.get("prefixes")
        prefix = getattr(destination, "prefix", None)
        if prefixes is not None and prefix is not None and prefix not in prefixes:
            raise IntegrityError(
                f"{fetched_name} under {prefix} was written for {', '.join(prefixes) or 'no S3 prefix'}: another "
                f"host's archive copied here, {refused}"
            )
        return []

    @property
    def sequence(self):
        """The host's save sequence of this archive, or None (a safety archive, or written before it was recorded)."""
        value = self.doc.get("sequence")
        return value if isinstance(value, int) else None

    @property
    def database(self):
        return self.doc["database"]

    @property
    def sql_name(self):
        return f"{self.database}.sql"

    @property
    def fingerprint(self):
        return self.doc.get("fingerprint")

    @property
    def apps(self):
        """Labels of the apps with a fixture in the archive."""
        return list(self.doc.get("apps") or [])

    @property
    def business_apps(self):
        return list(self.doc.get("business_apps") or [])

    @property
    def fixture_format(self):
        """The version of the fixtures' bytes (django_helper.FIXTURE_FORMAT when it was written; 1 before it was
        recorded): a proof dumps the restored data in the archive's own format to compare it with the manifest."""
        return int(self.doc.get("fixture_format") or 1)

    @property
    def model_paths(self):
        """{model: {path, reason}} as the dump recorded it (model_paths), or {} (older archives)."""
        return model_paths(self.doc.get("models"))

    def fixture_objects(self, label):
        return self.doc["members"][f"{label}.json"].get("objects")

    def expected_fixtures(self, apps=None):
        """{business app: sha256 of its fixture, or None (no rows)}, optionally only those among `apps`."""
        business = self.doc.get("business_apps") or sorted(self.doc.get("business_fixtures", {}))
        fixtures = self.doc.get("business_fixtures", {})
        return {app: fixtures.get(app) for app in business if apps is None or app in apps}

    @property
    def table_digests(self):
        """{business app: {table: digest}} recorded at the snapshot, or {} (archives older than the digests)."""
        return self.doc.get("table_digests") or {}

    @property
    def sql_fingerprint(self):
        return self.doc.get("sql_fingerprint")

    @property
    def schema_digests(self):
        """{object: md5} of the schema recorded at the snapshot (schema.py), or {} (older archives)."""
        return self.doc.get("schema_digests") or {}

    def digest_methods(self):
        """{table: digest method} of the recorded business table digests; None: recorded before digests named their
        method (md5), compared without one."""
        return {t: d.get("method") for tables in self.table_digests.values() for t, d in tables.items()}


def recorded_fingerprint(path):
    """The business fingerprint the manifest of the local archive at path records; None when it records none, when
    the archive cannot be read, or when it is encrypted (its manifest needs the private key)."""
    if path.endswith(".gpg"):
        return None
    try:
        return read_manifest(path).get("fingerprint")
    except BackupError:
        return None


def describe_local(path):
    """{sha256, fingerprint} of an archive file this host has no record of (saved before state.json knew it)."""
    return {"sha256": file_sha256(path), "fingerprint": recorded_fingerprint(path)}
