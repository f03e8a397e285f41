"""One backup iteration (`checkniner-backup run`): precheck, snapshot, fingerprint, archive, distribute."""

import datetime as dt
import glob
import os
import shutil
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import List, Optional

from . import __version__, archive, crypto, health, pg
from .errors import BackupError, ConfigError, StoreError
from .fingerprint import FIXTURE_FORMAT, business_fingerprint, sql_fingerprint
from .fsutil import Busy, atomic_write_json, exclusive_lock, read_json, replace_symlink
from .snapshot import MIGRATIONS, table_digests, take
from .stores import S3Store

STATE = "state.json"
LOCK = ".lock"
OUTBOX = "outbox"


@dataclass
class RunResult:
    outcome: str  # saved | unchanged | busy | failed | would save (dry run)
    reason: str = ""
    name: Optional[str] = None
    size: int = 0
    fingerprint: Optional[str] = None
    duration: float = 0.0
    uploaded: List[str] = field(default_factory=list)
    pending: int = 0
    error: Optional[str] = None
    exit_code: int = 0

    def line(self):
        """The one log line a run leaves behind."""
        took = f"{self.duration:.2f}s"
        if self.outcome == "saved":
            text = f"saved {self.name} ({_human(self.size)}, {took})"
        elif self.outcome == "unchanged":
            text = f"unchanged ({self.reason}, {took})"
        elif self.outcome == "would save":
            text = f"would save a new archive ({self.reason}, {took})"
        elif self.outcome == "busy":
            text = "busy: another run holds the lock, nothing done"
        else:
            text = f"failed: {self.error}"
        if self.uploaded:
            text += f"; uploaded {', '.join(self.uploaded)}"
        if self.pending:
            text += f"; {self.pending} archive(s) waiting in the outbox"
        if self.outcome == "saved" and self.error:
            text += f"; upload failed: {self.error}"
        return text

    def as_dict(self):
        return asdict(self)


def _human(size):
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024.0
    return f"{size} B"


def utcnow():
    return dt.datetime.now(dt.timezone.utc)


class BackupDir:
    """The local archive directory: archives, latest.tar.gz, state.json, the lock and the outbox."""

    def __init__(self, path, create=True):
        self.path = os.path.abspath(path)
        if create:
            try:
                os.makedirs(self.path, mode=0o750, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create CHECKNINER_BACKUP_DIR {self.path}: {exc.strerror}") from None
            if not os.access(self.path, os.W_OK | os.X_OK):
                raise ConfigError(f"CHECKNINER_BACKUP_DIR {self.path} is not writable by this user")

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    def archive_names(self):
        try:
            entries = os.listdir(self.path)
        except FileNotFoundError:
            return []
        return sorted(n for n in entries if archive.is_archive_name(n))

    def state(self):
        return read_json(self.join(STATE), {}) or {}

    def save_state(self, state):
        atomic_write_json(self.join(STATE), state)

    def outbox(self, dest):
        return self.join(OUTBOX, dest.name)

    def pending(self, dest):
        directory = self.outbox(dest)
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if archive.is_archive_name(n))

    def enqueue(self, dest, name):
        directory = self.outbox(dest)
        os.makedirs(self.join(OUTBOX), mode=0o750, exist_ok=True)
        os.makedirs(directory, mode=0o750, exist_ok=True)
        atomic_write_json(os.path.join(directory, name), {"queued": utcnow().isoformat()})

    def dequeue(self, dest, name):
        try:
            os.unlink(os.path.join(self.outbox(dest), name))
        except FileNotFoundError:
            pass

    def clean_leftovers(self):
        """What a killed run left: temp files and work directories (called under the lock)."""
        for path in glob.glob(self.join(".tmp-*")) + glob.glob(self.join(OUTBOX, "*", ".tmp-*")):
            try:
                os.unlink(path)
            except OSError:
                pass
        for path in glob.glob(self.join(".work-*")):
            shutil.rmtree(path, ignore_errors=True)


def last_fingerprint(config, bdir, state):
    """The fingerprint of the last archive: local state, else the newest local manifest, else the S3 pointer."""
    last = state.get("last") or {}
    if last.get("fingerprint"):
        return last["fingerprint"], "state"
    for name in reversed(bdir.archive_names()):
        if name.endswith(archive.SUFFIX) and not archive.is_safety_archive(name):
            try:
                fingerprint = archive.read_manifest(bdir.join(name)).get("fingerprint")
            except BackupError:
                continue
            if fingerprint:
                return fingerprint, "local archive"
    for dest in config.destinations:
        try:
            pointer = S3Store(dest).read_pointer()
        except StoreError:
            continue  # unknown: better one archive too many than none; it waits in the outbox
        if pointer and pointer.get("fingerprint"):
            return pointer["fingerprint"], "S3 pointer"
    return None, None


def pointer_doc(name, sha256, size, fingerprint):
    """latest.json: finding the newest archive costs one request, however many archives exist."""
    return {"name": name, "sha256": sha256, "size": size, "fingerprint": fingerprint, "updated": utcnow().isoformat()}


def distribute(config, bdir, state):
    """Upload everything waiting in each destination's outbox, oldest first; the pointer follows each upload.

    Nothing local is deleted here. Returns (uploaded names, first error or None).
    """
    uploaded, errors = [], []
    for dest in config.destinations:
        store = S3Store(dest)
        try:
            pointer = None
            for name in bdir.pending(dest):
                path = bdir.join(name)
                if not os.path.exists(path):
                    bdir.dequeue(dest, name)  # removed by hand: nothing left to send
                    continue
                info = (state.get("archives") or {}).get(name) or _describe_local(path)
                store.upload(path, name, info["sha256"], {"fingerprint": info.get("fingerprint", "")})
                if pointer is None:
                    pointer = store.read_pointer() or {}
                if name >= pointer.get("name", ""):
                    pointer = pointer_doc(name, info["sha256"], os.path.getsize(path), info.get("fingerprint"))
                    store.write_pointer(pointer)
                bdir.dequeue(dest, name)
                uploaded.append(name if len(config.destinations) == 1 else f"{name}->{dest.name}")
        except StoreError as exc:
            errors.append(exc)
    return uploaded, (errors[0] if errors else None)


def _describe_local(path):
    from .fingerprint import file_sha256

    fingerprint = None
    if path.endswith(archive.SUFFIX):
        try:
            fingerprint = archive.read_manifest(path).get("fingerprint")
        except BackupError:
            pass
    return {"sha256": file_sha256(path), "fingerprint": fingerprint}


def pending_count(config, bdir):
    return sum(len(bdir.pending(d)) for d in config.destinations)


def _identity(info):
    return {
        "system_identifier": info["system_identifier"],
        "database_oid": info["database_oid"],
        "database": info["database"],
    }


def write_snapshot_archive(config, path, workdir, taken_at, info, pg_dump_version, snapshot_id, snap):
    """Package a complete Snapshot taken into workdir as the archive at path (its name is the file name).

    The one place that builds a manifest: `run` and restore's pre-restore safety archive both come through here.
    Returns the archive's size.
    """
    name = os.path.basename(path)
    fingerprint = business_fingerprint(config.apps, {k: v["sha256"] for k, v in snap.fixtures.items()})
    members = [(f"{info['database']}.sql", os.path.join(workdir, f"{info['database']}.sql"))]
    manifest_members = {members[0][0]: snap.sql}
    for label in sorted(snap.fixtures):
        member = f"{label}.json"
        members.append((member, os.path.join(workdir, member)))
        fx = snap.fixtures[label]
        manifest_members[member] = {"sha256": fx["sha256"], "size": fx["size"], "objects": fx["objects"]}
    manifest = {
        "format": "checkniner-backup",
        "format_version": archive.FORMAT_VERSION,
        "name": name,
        "created": taken_at.isoformat(),
        "host": socket.gethostname(),
        "database": info["database"],
        "server_version": info["server_version"],
        "pg_dump_version": pg_dump_version,
        "tool_version": __version__,
        "snapshot": snapshot_id,
        "apps": sorted(snap.fixtures),
        "business_apps": list(config.apps),
        "business_fixtures": {a: snap.fixtures[a]["sha256"] for a in config.apps if a in snap.fixtures},
        "fingerprint": fingerprint,
        "fixture_format": FIXTURE_FORMAT,
        "table_digests": snap.table_digests,
        "sql_fingerprint": sql_fingerprint(snap.table_digests),
        "members": manifest_members,
        "migrations": snap.migrations,
    }
    return archive.write_archive(path, members, manifest, int(taken_at.timestamp()))


def _iterate(config, bdir, state, dry_run=False):
    """The body of a run, under the lock. Returns a RunResult (saved or unchanged; "would save" when dry_run)."""
    conn = pg.connect(config.database)
    try:
        info = pg.server_info(conn)
        next_xid = pg.next_xid(conn)
    finally:
        conn.close()
    pg_dump_version = pg.check_client(pg.find_program("pg_dump", config.env), info["server_version_num"])
    config.django.require()
    if config.gpg_recipient:
        crypto.check_recipient(config.gpg_recipient, config.env)
    identity = _identity(info)
    known, _source = last_fingerprint(config, bdir, state)
    # 1. precheck: no transaction id assigned since the last settled snapshot -> nothing committed anywhere
    precheck = state.get("precheck") or {}
    if known and precheck.get("fingerprint") == known and precheck.get("identity") == identity:
        if precheck.get("xmax") == next_xid:
            return RunResult("unchanged", reason="precheck", fingerprint=known)
    digests = state.get("digests") or {}
    if digests.get("fingerprint") != known or digests.get("identity") != identity:
        digests = {}

    workdir = bdir.join(f".work-{os.getpid()}")
    os.makedirs(workdir, mode=0o700)
    try:
        decision = {}

        def decide(business):
            decision["fingerprint"] = business_fingerprint(config.apps, business)
            return decision["fingerprint"] != known and not dry_run

        with pg.exported_snapshot(config.database) as (snapshot_id, xmax):
            taken_at = utcnow()
            if digests:
                # 2. something was written: compare the business tables' row digests (a scan in the server, no
                # Django) with those of the data the last fingerprint describes; django_migrations too (a new model)
                recorded = [d for tables in digests["tables"].values() for d in tables.items()]
                methods = {t: d.get("method") for t, d in [*recorded, (MIGRATIONS, digests["migrations"])]}
                now = table_digests(
                    config.database, snapshot_id, {a: list(t) for a, t in digests["tables"].items()}, methods
                )
                if list(now) == [digests["tables"], digests["migrations"]]:
                    if not dry_run:
                        state["precheck"] = {"fingerprint": known, "identity": identity, "xmax": xmax} if xmax else {}
                    return RunResult("unchanged", reason="digests", fingerprint=known)
            # 3. the business fixtures through the application's own Django, and the rest only if they changed
            snap = take(config, workdir, decide, snapshot_id)
        fingerprint = decision.get("fingerprint")
        if fingerprint is None:
            raise BackupError("Django helper ended before dumping the business apps")
        if dry_run:
            if fingerprint == known:
                return RunResult("unchanged", reason="fingerprint", fingerprint=fingerprint)
            return RunResult("would save", reason="business data changed", fingerprint=fingerprint)
        state["precheck"] = {"fingerprint": fingerprint, "identity": identity, "xmax": xmax} if xmax else {}
        state["digests"] = {
            "fingerprint": fingerprint,
            "identity": identity,
            "tables": snap.table_digests,
            "migrations": snap.migrations_digest,
        }
        if not snap.complete:
            return RunResult("unchanged", reason="fingerprint", fingerprint=fingerprint)
        if snap.sql is None:
            raise BackupError("pg_dump produced no SQL")

        name = archive.name_for(taken_at, bdir.archive_names())
        if config.gpg_recipient:
            # the clear archive never reaches the backup directory; only the encrypted one is kept and sent
            clear = os.path.join(workdir, name)
            write_snapshot_archive(config, clear, workdir, taken_at, info, pg_dump_version, snapshot_id, snap)
            name += crypto.SUFFIX
            path = bdir.join(name)
            size = crypto.encrypt(clear, path, config.gpg_recipient, config.env)
        else:
            path = bdir.join(name)
            size = write_snapshot_archive(config, path, workdir, taken_at, info, pg_dump_version, snapshot_id, snap)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    from .fingerprint import file_sha256

    sha256 = file_sha256(path)
    for dest in config.destinations:
        bdir.enqueue(dest, name)
    archives = state.setdefault("archives", {})
    archives[name] = {"sha256": sha256, "size": size, "fingerprint": fingerprint}
    state["last"] = {"name": name, "fingerprint": fingerprint, "sha256": sha256, "size": size}
    state["last_change"] = utcnow().isoformat()
    bdir.save_state(state)
    replace_symlink(name, bdir.join(archive.LATEST))
    return RunResult("saved", name=name, size=size, fingerprint=fingerprint)


def run(config, dry_run=False):
    """One iteration. Never raises for the expected outcomes: a failure is a RunResult with exit_code 1 or 2.

    dry_run: decide whether an archive would be saved (precheck and business fingerprint) and save, upload, record
    and report nothing (the Ansible module's check mode).
    """
    started = time.monotonic()
    state = {}
    try:
        bdir = BackupDir(config.require_backup_dir())
        with exclusive_lock(bdir.join(LOCK)):
            result = _locked_run(config, bdir, dry_run, started)
            state = bdir.state()
    except Busy:
        result = RunResult("busy", duration=time.monotonic() - started)
    except BackupError as exc:
        result = RunResult("failed", error=str(exc), exit_code=exc.exit_code, duration=time.monotonic() - started)
    if not dry_run:
        health.after_run(config, result, state)
    return result


def _locked_run(config, bdir, dry_run, started):
    bdir.clean_leftovers()
    state = bdir.state()
    names = set(bdir.archive_names())  # forget the bookkeeping of archives removed since
    state["archives"] = {k: v for k, v in (state.get("archives") or {}).items() if k in names}
    try:
        result = _iterate(config, bdir, state, dry_run)
    except BackupError as exc:
        result = RunResult("failed", error=str(exc), exit_code=exc.exit_code)
    if dry_run:
        result.pending = pending_count(config, bdir)
        result.duration = time.monotonic() - started
        return result
    if result.outcome != "failed" or result.exit_code == 1:
        # the outbox is flushed even when the snapshot failed: an earlier archive may still be waiting
        uploaded, upload_error = distribute(config, bdir, state)
        result.uploaded = uploaded
        if upload_error is not None and result.outcome != "failed":
            result.error = str(upload_error)
            result.exit_code = 1
            if result.outcome != "saved":
                result.outcome = "failed"
    result.pending = pending_count(config, bdir)
    result.duration = time.monotonic() - started
    now = utcnow().isoformat()
    state["last_run"] = {
        "at": now,
        "outcome": result.outcome,
        "reason": result.reason,
        "error": result.error,
        "duration": round(result.duration, 3),
        "name": result.name,
        "size": result.size,
    }
    if result.exit_code == 0:
        state["last_success"] = now
    bdir.save_state(state)
    return result


def ensure_uploaded(config, name=None, dry_run=False):
    """Make sure one local archive (default: the newest) is in every destination with a matching checksum and the
    pointer names the newest. Returns {"name", "changed", "destinations": {dest: "uploaded"|"present"|"would upload"}}.
    """
    if not config.destinations:
        raise ConfigError("S3 is not configured: set S3_BUCKET_NAME (and credentials) to upload")
    bdir = BackupDir(config.require_backup_dir(), create=False)
    names = bdir.archive_names()
    if name in (None, "", "latest"):
        regular = [n for n in names if not archive.is_safety_archive(n)]
        if not regular:
            raise BackupError(f"no local archive in {bdir.path} to upload")
        name = regular[-1]
    elif name not in names:
        raise BackupError(f"no local archive named {name} in {bdir.path}")
    from .fingerprint import file_sha256

    path = bdir.join(name)
    info = (bdir.state().get("archives") or {}).get(name) or _describe_local(path)
    sha256 = info.get("sha256") or file_sha256(path)
    size = os.path.getsize(path)
    outcome = {"name": name, "changed": False, "destinations": {}}
    for dest in config.destinations:
        store = S3Store(dest)
        present = store.matches(store.head(name), sha256, size)
        pointer = store.read_pointer() or {}
        pointer_ok = pointer.get("name", "") >= name
        if present and pointer_ok:
            outcome["destinations"][dest.name] = "present"
            continue
        outcome["changed"] = True
        if dry_run:
            outcome["destinations"][dest.name] = "would upload"
            continue
        with exclusive_lock(bdir.join(LOCK)):
            store.upload(path, name, sha256, {"fingerprint": info.get("fingerprint") or ""})
            if not pointer_ok:
                store.write_pointer(pointer_doc(name, sha256, size, info.get("fingerprint")))
            bdir.dequeue(dest, name)
        outcome["destinations"][dest.name] = "uploaded"
    return outcome
