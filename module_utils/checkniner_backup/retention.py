"""Retention (`checkniner-backup prune`): the tiered policy, applied to the local directory and each S3 destination.

The policy is restic's `forget --keep-within/--keep-hourly/...`, applied to each location separately:

- keep_within D: every archive whose time is within D of the newest archive of its series in that location. Relative
  to the newest archive, not to "now": archives are only saved when the business data changed, so a quiet week, or a
  host whose backups stopped, never erodes the history by waiting.
- keep_hourly N: the newest archive in each of the N most recent hours that have archives; keep_daily,
  keep_weekly (ISO weeks) and keep_monthly the same per day, week and month. Buckets are UTC, like the names. The
  tiers are independent (an archive the daily tier keeps still counts for the hourly tier); 0 turns a tier off.
- Series: regular archives form one timeline, plain and encrypted (.tar.gz.gpg) alike. Tagged archives
  (`<stamp>-pre-restore.tar.gz`, restore's safety copies) form their own series, as restic groups snapshots by tag:
  a restore never displaces a regular archive from its hour, and safety copies are thinned only against each other
  (restores are rare, so the daily and monthly tiers keep them for a long time).
- Never deleted: the newest archive of each series; every archive still waiting in any outbox, or for a configured
  destination the directory was not reconciled with yet (configured since: the next run queues it); the target of
  the local latest.tar.gz link and state.json's last archive; in a destination, the archive its latest.json names;
  an archive whose name carries an impossible date; an archive whose name is from the future (archive.is_future: a
  clock gone wrong, or a planted name). Those are kept and reported ("future"), but never count as the newest of
  their series nor take a tier's slot, so they cannot shield everything else from the policy (nor, being "newest",
  let the real history be thinned against a date years ahead).

The policy (`plan`) is a pure function over names, the names of authenticated archives only. `prune` applies it:
locally under the run lock (which also guards state.json), then in each destination from one paginated listing and
batched deletes. Only archives that authenticate (heads.py: a signed head naming this archive and prefix, by a
trusted key; locally also what state.json recorded when this host saved it) take part: any other object (planted,
unsigned, signed by a key not trusted, a genuine archive copied under another name, encrypted) gets no tier slot and
is never deleted by prune, whatever --allow-unsigned elsewhere says; it is listed ("unauthenticated, left") and
counted, so an operator sees it and removes it by hand (README: Retention). Heads are read once per object and
cached; memory is one short string per archive, nothing per object beyond that.
"""

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Dict, List

from . import archive, heads, health, lock, retention_policy, stores
from .errors import BackupError, Busy, ConfigError, StoreError
from .fsutil import fsync_dir
from .local import BackupDir, unreconciled
from .state import State
from .units import utcnow

TIERS = ("hourly", "daily", "weekly", "monthly")
_STAMP_LEN = len("YYYY-MM-DDTHHMMSSZ")


@dataclass
class Plan:
    """What the policy decided for one location: keep {name: [reasons]}, delete [names] oldest first."""

    keep: Dict[str, List[str]] = field(default_factory=dict)
    delete: List[str] = field(default_factory=list)


def series_of(name):
    """'' for a regular archive, the tag ('-pre-restore') for a tagged one; the .gpg suffix does not matter."""
    rest = name[_STAMP_LEN:]
    if rest.endswith(".gpg"):
        rest = rest[: -len(".gpg")]
    return rest[: -len(archive.SUFFIX)]


def _date(day):
    """datetime.date of 'YYYY-MM-DD', or None when the name carries an impossible date."""
    try:
        return dt.date(int(day[0:4]), int(day[5:7]), int(day[8:10]))
    except ValueError:
        return None


def plan(names, policy, pinned=(), now=None):
    """Apply the policy (a retention_policy.Retention) to archive names; names that are not archive names are ignored.

    pinned: names never to delete, {name: reason} ("pending upload", "latest.json", ...) or any iterable of names
    (reason "pinned"). now: what "the future" is measured from (default: the clock). One pass per series, newest
    first; bucket keys are cut from the name (lexical order is time order), so 100,000 names take well under a second.
    """
    if not isinstance(pinned, dict):
        pinned = dict.fromkeys(pinned, "pinned")
    now = now or utcnow()
    result = Plan()
    groups = {}
    for name in names:
        if archive.is_archive_name(name):
            groups.setdefault(series_of(name), []).append(name)
    for items in groups.values():
        items.sort()
        _plan_series(items, policy, pinned, result.keep, now)
    result.delete = sorted(n for items in groups.values() for n in items if n not in result.keep)
    return result


def _plan_series(items, policy, pinned, keep, now):
    """items: the names of one series, oldest first. Adds {name: reasons} to keep."""
    left = {tier: getattr(policy, tier) for tier in TIERS}
    last = dict.fromkeys(TIERS)
    threshold = None
    newest = None
    day, day_ok, week = None, False, None
    for name in reversed(items):
        reasons = [pinned[name]] if name in pinned else []
        stamp = name[:_STAMP_LEN]
        if stamp[:10] != day:
            day = stamp[:10]
            date = _date(day)
            day_ok = date is not None
            week = date.isocalendar()[:2] if day_ok else None
        if not day_ok:
            keep[name] = reasons + ["unreadable date"]
            continue
        if newest is None and archive.is_future(name, now):  # newest first: only until the first real one
            keep[name] = reasons + ["future"]
            continue
        if newest is None:
            newest = name
            reasons.append("newest")
            newest_time = archive.time_of(name)  # None: a valid day at an impossible hour (by hand): no window
            if policy.within_seconds and newest_time is not None:
                start = newest_time - dt.timedelta(seconds=policy.within_seconds)
                threshold = start.strftime(archive.STAMP)
        if threshold is not None and stamp >= threshold:
            reasons.append("within")
        keys = {"hourly": stamp[:13], "daily": day, "weekly": week, "monthly": stamp[:7]}
        for tier in TIERS:
            if left[tier] and keys[tier] != last[tier]:
                last[tier] = keys[tier]
                left[tier] -= 1
                reasons.append(tier)
        if reasons:
            keep[name] = reasons


# -- applying it ------------------------------------------------------------------------------------------------


@dataclass
class PruneResult:
    """What prune did: ok (no location failed), busy (a run held the local lock: nothing pruned), the policy applied,
    one row per location ({"location", "where", "archives", "kept", "keep": {name: reasons}, "delete": [names],
    "deleted", "locked": [names left under Object Lock], "dry_run", "error"}, "skipped" for a destination left to a
    trusted pruner), the number deleted, and the warnings of its report (a heartbeat that could not be sent)."""

    dry_run: bool
    policy: dict
    ok: bool = True
    busy: bool = False
    locations: List[dict] = field(default_factory=list)
    deleted: int = 0
    warnings: List[str] = field(default_factory=list)

    def as_dict(self):
        keys = ("ok", "busy", "dry_run", "policy", "locations", "deleted", "warnings")
        return {key: getattr(self, key) for key in keys}


def _location(name, where, total, decided, deleted, dry_run, error=None, locked=(), unauthenticated=None, read=0):
    return {
        "heads_read": read,  # heads read now (not from the cache): each object's is read once
        "unauthenticated": unauthenticated or {},  # {name: why}: no tier slot, never deleted here
        "locked": list(locked),  # the policy would delete them; their Object Lock retention has not ended
        "location": name,
        "where": where,
        "archives": total,
        "kept": len(decided.keep),
        "keep": decided.keep,
        "delete": decided.delete,
        "deleted": deleted,
        "dry_run": dry_run,
        "error": error,
    }


def _failed(name, where, error):
    return _location(name, where, 0, Plan(), 0, False, error)


def local_pins(bdir, state, destinations=()):
    """{name: reason} never to delete anywhere: what waits in an outbox, or for a destination the directory was not
    reconciled with yet; what latest.tar.gz and state name."""
    pinned = {name: "pending upload" for name in bdir.outboxed()}
    for dest in destinations:
        pinned.update((name, "pending upload") for name in unreconciled(bdir, state, dest.name))
    for name, reason in (
        (bdir.link_target(), "latest.tar.gz"),
        (state.last.get("name"), "last"),
    ):
        if name:
            pinned.setdefault(name, reason)
    return pinned


def _authenticated(scan, rows, trusted, unauthenticated, known=None):
    """The names of the listing rows whose head authenticates (known(name): vouched for already); the others go into
    unauthenticated {name: why}."""
    for row in rows:
        if known is not None and known(row["name"]):
            yield row["name"]
            continue
        why = scan.seen(row).why_not(trusted)
        if why:
            unauthenticated[row["name"]] = why
        else:
            yield row["name"]


def _local_rows(bdir):
    """Listing rows of the backup directory, as a directory store answers them (the heads cache's key)."""
    for name in sorted(bdir.archive_names()):
        try:
            st = os.stat(bdir.join(name))
        except FileNotFoundError:
            continue
        yield {"name": name, "size": st.st_size, "modified": dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc)
               .isoformat()}  # fmt: skip


def _read_local(bdir):
    def read_prefix(name, length):
        try:
            with open(bdir.join(name), "rb") as handle:
                return handle.read(length)
        except FileNotFoundError:
            return None

    return read_prefix


def prune_local(bdir, policy, pinned, state, dry_run=False, trusted=frozenset(), cache=None):
    """Apply the policy to the archive directory (the caller holds the run lock). What state.json recorded when this
    host saved it is its own; any other archive there counts only when its head authenticates (trusted: the
    fingerprints; cache: the heads cache directory)."""
    unauth = {}
    path = heads.cache_path(cache or os.path.join(bdir.path, "heads"), f"local:{bdir.path}")
    with heads.Scan(path, _read_local(bdir), "local", write=not dry_run) as scan:
        names = list(_authenticated(scan, _local_rows(bdir), trusted, unauth, lambda n: bool(state.archive(n))))
    decided = plan(names, policy, pinned)
    deleted, error = 0, None
    if not dry_run and decided.delete:
        gone = set()
        for name in decided.delete:
            try:
                os.unlink(bdir.join(name))
            except FileNotFoundError:
                pass
            except OSError as exc:
                error = f"cannot delete {bdir.join(name)}: {exc.strerror}"
                break
            gone.add(name)
        deleted = len(gone)
        fsync_dir(bdir.path)
        if state.forget(gone):
            state.save()
    total = len(names) + len(unauth)
    return _location("local", bdir.path, total, decided, deleted, dry_run, error, (), unauth, scan.read)


def prune_destination(dest, policy, pinned, dry_run=False, trusted=frozenset(), cache=None):
    """Apply the policy to one S3 destination: one paginated listing, a head read for each object not read before
    (cache: the heads cache directory), then deletes in batches of 1000."""
    store = stores.open(dest)
    pointer = store.read_pointer()
    pinned = dict(pinned)
    if pointer:
        pinned[pointer["name"]] = "latest.json"
    unauth = {}
    with heads.scan_store(cache or heads.cache_dir(), store, write=not dry_run) as scan:
        # names only: the per-object dicts are not kept
        names = list(_authenticated(scan, store.iter_archives(), trusted, unauth))
    decided = plan(names, policy, pinned)
    # Object Lock: an archive whose retention has not ended is left, and said so. Deleting it without a version
    # would only hide it behind a delete marker (the locked version stays, and is billed): one HEAD per candidate,
    # only where a lock is possible at all.
    locked = store.locks(decided.delete) if decided.delete and store.lock_possible() else {}
    for name, retained in locked.items():
        decided.keep[name] = [f"object lock ({retained['mode']}) until {retained['until']}"]
    decided.delete = [name for name in decided.delete if name not in locked]
    deleted, error = 0, None
    if not dry_run and decided.delete:
        try:
            store.delete(decided.delete)
            deleted = len(decided.delete)
        except StoreError as exc:
            error = str(exc)
    total = len(names) + len(unauth)
    locked = sorted(locked)
    return _location(dest.name, dest.describe(), total, decided, deleted, dry_run, error, locked, unauth, scan.read)


def prune(config, dry_run=False, policy=None, lock_wait=None) -> PruneResult:
    """Apply the retention policy (see _apply), and unless dry_run report it like every scheduled job: its record in
    state.json, the metrics file, CHECKNINER_PRUNE_HEALTHCHECK_URL (URL/fail with the reason on failure). The result
    gets warnings (a heartbeat that could not be sent). Returns a PruneResult. A failure that raises is reported,
    then raised."""
    if dry_run:
        return _apply(config, dry_run, policy, lock_wait)
    rid = health.new_rid()
    started = health.start(config.prune_healthcheck_url, rid)
    try:
        result = _apply(config, dry_run, policy, lock_wait)
    except Exception as exc:
        if isinstance(exc, BackupError):
            exc.warnings += started
        health.after_failed_job(config, "prune", exc, {"deleted": 0}, rid)
        raise
    errors = [f"{loc['location']}: {loc['error']}" for loc in result.locations if loc["error"]]
    if result.busy:
        outcome, line = "busy", "busy: another run held the lock, nothing pruned"
    else:
        outcome = "failed" if errors else "pruned"
        line = "; ".join(summary(loc) for loc in result.locations)
        line = f"failed: {line}" if errors else line
    # {location: objects no trusted signature vouches for}: state.json keeps it for the metrics' gauge
    unauthenticated = {loc["location"]: len(loc.get("unauthenticated") or {}) for loc in result.locations}
    record = {"outcome": outcome, "deleted": result.deleted, "error": "; ".join(errors) or None,
              "unauthenticated": unauthenticated}  # fmt: skip
    result.warnings = started + health.after_job(config, "prune", line, record, rid, started)
    return result


def _apply(config, dry_run, policy, lock_wait):
    """Apply the retention policy to the local directory (when CHECKNINER_BACKUP_DIR is set) and to every S3
    destination separately. dry_run: decide, delete nothing.

    Returns a PruneResult. A destination that fails is reported with its error and the others are still pruned.
    Raises ConfigError for a bad policy (nothing deleted).
    """
    policy = policy or retention_policy.parse_policy(config.keep)
    remote = retention_policy.prune_remote(config.prune_remote_text)
    if not config.backup_dir and not config.destinations:
        raise ConfigError("nothing to prune: set CHECKNINER_BACKUP_DIR and/or S3_BUCKET_NAME")
    # CHECKNINER_PRUNE_REMOTE=0 keeps delete rights off the host's S3 keys; a directory the host writes it can
    # delete from anyway, and no pruner elsewhere reaches it: directories are pruned here either way
    here = [d for d in config.destinations if remote or d.kind == "directory"]
    if not config.backup_dir and not here:
        raise ConfigError("nothing to prune: CHECKNINER_PRUNE_REMOTE=0 leaves S3 out, CHECKNINER_BACKUP_DIR is not set")
    result = PruneResult(dry_run, policy.as_dict())
    trusted, cache = heads.trusted_fingerprints(config), heads.cache_dir(config)  # a bad trusted-keys file: exit 2
    pinned = {}
    if config.backup_dir:
        bdir = BackupDir(config.backup_dir, create=False)
        if os.path.isdir(bdir.path):
            try:
                wait = lock.WAIT if lock_wait is None else lock_wait
                with lock.run_lock(bdir.path, wait=wait, nothing_done="nothing pruned"):
                    state = State.load(bdir, set_aside=not dry_run)
                    # read before any S3 listing (see below)
                    pinned.update(local_pins(bdir, state, config.destinations))
                    result.locations.append(prune_local(bdir, policy, pinned, state, dry_run, trusted, cache))
            except Busy:
                result.busy = True
                return result
            except OSError as exc:
                result.ok = False
                result.locations.append(_failed("local", bdir.path, f"{exc.strerror or exc}: {exc.filename}"))
                return result  # the outbox is unknown: pruning S3 now could remove what waits to be confirmed
        else:
            result.locations.append(_location("local", bdir.path, 0, Plan(), 0, dry_run))
    for dest in config.destinations:
        if dest not in here:  # least privilege: the host's S3 keys put and read; a pruner deletes (playbooks/prune.yml)
            result.locations.append(dict(_location(dest.name, dest.describe(), 0, Plan(), 0, dry_run), skipped=True))
            continue
        # The outbox was read before the listing: an archive uploaded since is newer than everything listed, so
        # it is the newest of its series wherever it shows up, and kept.
        try:
            result.locations.append(prune_destination(dest, policy, pinned, dry_run, trusted, cache))
        except StoreError as exc:
            result.locations.append(_failed(dest.name, dest.describe(), str(exc)))
    result.ok = not any(loc["error"] for loc in result.locations)
    result.deleted = sum(loc["deleted"] for loc in result.locations)
    return result


def summary(loc):
    """One line for a location: counts, then exactly the names that go (or would go, in a dry run)."""
    if loc.get("skipped"):
        return f"{loc['location']} ({loc['where']}): not pruned here (CHECKNINER_PRUNE_REMOTE=0: the pruner does it)"
    if loc["error"] and not loc["archives"]:
        return f"{loc['location']} ({loc['where']}): failed: {loc['error']}"
    verb = "would delete" if loc["dry_run"] else "deleted"
    count = len(loc["delete"]) if loc["dry_run"] else loc["deleted"]
    text = f"{loc['location']} ({loc['where']}): {loc['archives']} archive(s), kept {loc['kept']}, {verb} {count}"
    names = loc["delete"] if loc["dry_run"] else loc["delete"][: loc["deleted"]]
    if names:
        text += ": " + " ".join(names)
    if loc.get("unauthenticated"):
        left = sorted(loc["unauthenticated"].items())
        more = f" and {len(left) - 10} more" if len(left) > 10 else ""
        text += f"; unauthenticated, left {len(left)}: " + ", ".join(f"{n} ({why})" for n, why in left[:10]) + more
    if loc.get("locked"):
        text += f"; left {len(loc['locked'])} under Object Lock: " + " ".join(loc["locked"])
    if loc["error"]:
        text += f"; failed: {loc['error']}"
    return text
