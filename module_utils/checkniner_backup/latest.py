"""Which archive: the one place that decides it (restic's FindLatest), for a ref (latest | NAME | PATH), a location
and a time bound (resolve).

- Locally: the newest regular archive in the backup directory. Names sort by time, so it is the last name;
  `-pre-restore` safety copies never count. latest.tar.gz is a convenience link for people, switched to it last by
  every save.
- In S3: the archive `<prefix>latest.json` names (one request, however many archives exist), else the newest name of
  a paginated listing (a bucket written by hand, or a pointer lost).
- Everywhere (`restore --archive latest`): the newest of those; on a tie the local copy (no download).
- Never an archive whose name is from the future (archive.is_future: later than now plus an hour, a clock gone wrong
  or a planted name): it is passed over, and a pointer naming one is ignored with a warning.
- At a time (`--at TIME`): the newest of those saved at or before TIME, by the time in its name (its creation time,
  UTC: the one time a listing gives for every store). Archives are saved only on change, so it holds the database's
  state at TIME. The pointer names only the newest, so a destination is listed (paginated).
"""

import datetime as dt
import os
from dataclasses import dataclass, field, replace
from typing import List, Optional

from . import archive, heads, stores
from .errors import BackupError, ConfigError, Interrupted, StoreError
from .local import BackupDir
from .retention_policy import parse_duration
from .state import State
from .units import utcnow

UTC = dt.timezone.utc
AT_FORMS = "an ISO 8601 time (2026-11-30T14:00:00Z, 2026-11-30 14:00, 2026-11-30) or a time ago (-2h, -30m, -1d, -1w)"


# a save sequence is a count of saves: a pointer's (unsigned, hostile input) beyond JSON's exact integers, negative, a
# bool, a string or a float ranks as none at all
MAX_SEQUENCE = 2**53


def regular(names):
    """The names of regular archives (not safety copies), in the order given."""
    return [n for n in names if not archive.is_safety_archive(n)]


def candidates(names, now=None):
    """The names that may be `latest`: regular archives not from the future, in the order given."""
    now = now or utcnow()
    return [n for n in regular(names) if not archive.is_future(n, now)]


def rank(name, sequence):
    """What orders archives for `latest`: the host's save sequence first (monotonic, whatever the clock did: an archive
    saved with the clock hours fast has a later name and older data), then the name. Archives without a sequence
    (written before it was recorded) rank below every archive with one, among themselves by name."""
    return (sequence if type(sequence) is int and 0 <= sequence <= MAX_SEQUENCE else -1, name)


def outranks(name, sequence, pointer, now=None):
    """Whether archive `name` (with its save sequence) is newer than the one a latest.json document names; a pointer
    naming the future or nothing is outranked by anything."""
    named = pointer_name(pointer, now)
    return not named or rank(name, sequence) >= rank(named, (pointer or {}).get("sequence"))


def _local_ranks(bdir):
    """{name: its save sequence} of the backup directory (state.json: written by this host, not by a store)."""
    return State.load(bdir).sequences() if bdir is not None else {}


def local_latest(bdir, now=None):
    """The newest regular archive in the backup directory that is not from the future (by rank), or None."""
    if bdir is None:
        return None
    names = candidates(bdir.archive_names(), now)
    sequences = _local_ranks(bdir) if names else {}
    return max(names, key=lambda n: rank(n, sequences.get(n))) if names else None


def pointer_name(pointer, now=None):
    """The archive a latest.json document names, or "" when there is none or it names the future (a pointer like
    that is replaced by the next upload, never trusted)."""
    name = (pointer or {}).get("name") or ""
    return "" if not name or archive.is_future(name, now or utcnow()) else name


def names_a_path(ref):
    """An --archive that is a file's path, not latest or an archive's name (found in a location)."""
    return ref != "latest" and (os.sep in ref or not archive.is_archive_name(ref))


# -- times ----------------------------------------------------------------------------------------------------


def parse_at(value, what="--at", now=None):
    """TIME -> an aware UTC datetime. ISO 8601 (2026-11-30T14:00:00Z, 2026-11-30 14:00, 2026-11-30: a time without
    an offset is UTC, like every archive name; a date is its midnight), an archive's own stamp (2026-11-30T140000Z),
    or a time ago: '-' and a duration as CHECKNINER_KEEP_WITHIN spells it (-2h, -30m, -1d, -1w, -1d12h). Raises
    ConfigError naming `what` (the option as the front door spells it)."""
    text = str(value).strip()
    wrong = ConfigError(f"{what} must be {AT_FORMS}, not {text!r}")
    if text.startswith("-"):
        try:
            return (now or utcnow()) - dt.timedelta(seconds=parse_duration(text[1:], what))
        except (ConfigError, OverflowError):
            raise wrong from None
    try:
        when = dt.datetime.strptime(text, archive.STAMP)
    except ValueError:
        # "Z" spelled as an offset: fromisoformat takes it only from Python 3.11
        spelled = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        try:
            when = dt.datetime.fromisoformat(spelled)
        except ValueError:
            raise wrong from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def iso(when):
    """A time as messages and --at spell it: 2026-11-30T14:00:00Z."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bound(before):
    """The latest stamp at or before `before`: names are compared as text, like every archive name."""
    return None if before is None else before.astimezone(UTC).strftime(archive.STAMP)


def _pick(names, now, bound=None, where="", sequences=None):
    """Of names (oldest first): (the newest that may be taken at or before bound, the oldest regular one not from
    the future, the warnings for names from the future passed over on the way), in one pass. Without a bound, the
    newest is the highest rank (sequences: {name: save sequence}); at a time, the last name saved at or before it."""
    by_rank = bound is None and bool(sequences)
    newest, best, oldest, future = None, None, None, []
    for name in names:
        if archive.is_safety_archive(name):
            continue
        from_future = archive.is_future(name, now)
        if bound is not None and archive.NAME_RE.match(os.path.basename(name)).group(1) > bound:
            if not from_future:
                oldest = oldest or name
            continue
        if from_future:
            future.append(name)
            continue
        oldest = oldest or name
        key = rank(name, sequences.get(name)) if by_rank else name
        if best is None or key >= best:
            newest, best = name, key
    return newest, oldest, _passed_over(future, where)


def _passed_over(future, where):
    if not future:
        return []
    more = f" and {len(future) - 1} more" if len(future) > 1 else ""
    return [f"{where}: passed over {future[-1]}{more}, named later than now (a clock gone wrong, or a planted name)"]


def _none_at(before, oldest):
    """The one line for a time before every archive: oldest is [(where, the oldest name there)]."""
    where, name = min(oldest, key=lambda row: row[1])
    when = archive.time_of(name)
    return BackupError(
        f"no archive saved at or before {iso(before)}: the oldest is {name} "
        f"(from {iso(when) if when else name}, in {where}); `checkniner-backup list` shows them"
    )


def remote_latest(store, now=None, before=None, trust=None):
    """(name, sha256 or None, warnings) of the newest archive of one destination (at or before `before`); (None,
    None, warnings) when it has none. trust: a heads.Trust (None: nothing authenticates, names decide)."""
    name, sha, _oldest, warnings, _sequence = _remote(store, now or utcnow(), before, trust)
    return name, sha, warnings


def _remote(store, now, before=None, trust=None):
    """(name, sha256 or None, the oldest archive listed or None, warnings, its signed save sequence or None) of one
    destination: the archive latest.json names when its head authenticates (one ranged read) and the pointer's
    sequence is the signed one, else the authenticated archive with the highest signed sequence (at a time: the
    newest saved at or before it), its heads read through the cache. When none authenticates, the pointer or the
    newest name, as before signing: fetch refuses it unless unsigned archives are allowed."""
    trust = trust or heads.Trust()
    warnings, pointer, named, planted = [], None, "", None
    if before is None:
        pointer = store.read_pointer()
        named = pointer_name(pointer, now)
        if named and trust.encrypted and named.endswith(".gpg"):
            return named, pointer.get("sha256"), None, [], None  # its head is read once decrypted (fetch)
        if named:
            seen = heads.one(store, named)
            why = seen.why_not(trust.fingerprints) or _sequence_differs(pointer, seen)
            if not why:
                return named, pointer.get("sha256"), None, [], seen.sequence
            planted = (
                f"{store.describe()}: latest.json names {named}, which does not authenticate ({why}): ignored (a "
                "planted pointer?), the authenticated archive with the highest save sequence is used instead"
            )
        elif pointer:
            warnings.append(
                f"{store.describe()}: latest.json names {pointer['name']}, later than now: ignored (a clock "
                "gone wrong, or a planted name), the newest archive listed is used instead"
            )
    names, sequences, left, sealed = [], {}, 0, []
    with heads.scan_store(trust.cache, store) as scan:
        for row in store.iter_archives():
            seen = scan.seen(row)
            if trust.encrypted and seen.problem == heads.ENCRYPTED:
                sealed.append(row["name"])  # candidates by name: fetch authenticates them once decrypted
            if seen.why_not(trust.fingerprints):
                left += 1
                continue
            names.append(row["name"])
            sequences[row["name"]] = seen.sequence
    newest, oldest, passed_over = _pick(names, now, _bound(before), store.describe(), sequences or None)
    newest_sealed, _first, _passed = _pick(sealed, now, _bound(before))
    if newest_sealed and (newest is None or newest_sealed > newest):
        return newest_sealed, None, oldest, warnings + passed_over, None
    if newest is not None:
        return newest, None, oldest, warnings + [planted] * bool(planted) + passed_over, sequences.get(newest)
    if left and not names:  # nothing here authenticates (unsigned archives, no trusted key): names decide
        if named:  # fetch says whether it is signed
            return named, pointer.get("sha256"), None, warnings, None
        listed = (obj["name"] for obj in store.iter_archives())
        newest, oldest, passed_over = _pick(listed, now, _bound(before), store.describe())
    return newest, None, oldest, warnings + passed_over, None


def _sequence_differs(pointer, seen):
    """Why a pointer naming an authenticated archive is not believed: it claims another sequence than the signed."""
    claimed = (pointer or {}).get("sequence")
    if "sequence" in (pointer or {}) and claimed != seen.sequence:
        return f"it claims sequence {repr(claimed)[:24]}, the archive's signed manifest {seen.sequence}"
    return ""


# -- resolve --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """One archive to fetch."""

    name: Optional[str]
    source: str  # "path" | "local" | the destination's name
    path: Optional[str] = None  # the file (a path given, or in the backup directory); None: in a destination
    destination: Optional[object] = None  # a stores destination to download it from
    sha256: Optional[str] = None  # recorded when saved (state.json, latest.json); None: the object's metadata decides
    warnings: List[str] = field(default_factory=list)  # what was passed over on the way (a pointer from the future)
    error: Optional[BackupError] = None  # one of several locations that has no such archive or cannot be reached


def resolve(config, ref, location=None, before=None, now=None):
    """The archives to fetch for `ref` (latest | NAME | PATH), a list of Found:

    location None: the newest everywhere (restore), one Found, a tie to the local copy (no download); "local" or a
    destination's name: that location's; "all" or "s3" (the drill): one per location, in order: the local directory
    (when it holds an archive), then each destination; a PATH is the file itself whatever the location.
    before (an aware datetime; only with latest): the newest saved at or before it, not the newest.

    Raises ConfigError (a name or path that is nowhere, an unknown location, nothing to drill), BackupError (no
    archive; none at or before `before`, naming the oldest) or StoreError. With several locations, one that fails
    so is answered with its error in Found.error instead: the others still count.
    """
    now = now or utcnow()
    ref = (ref or "latest").strip()
    bdir = BackupDir(config.backup_dir, create=False) if config.backup_dir else None
    if names_a_path(ref):
        if not os.path.isfile(ref):
            raise ConfigError(
                f"no archive {ref!r}: give latest, an archive name (YYYY-MM-DDTHHMMSSZ.tar.gz) or a path to one"
            )
        return [Found(os.path.basename(ref), "path", os.path.abspath(ref))]  # no record: every member is checked
    if location is None:
        return [_everywhere(config, bdir, ref, now, before)]
    locations = _locations(config, bdir, location)
    found = []
    for each in locations:
        try:
            found.append(_in(config, bdir, ref, each, now, before))
        except (ConfigError, Interrupted):
            raise
        except BackupError as exc:
            if len(locations) == 1:
                raise
            found.append(Found(None, each, error=exc))
    return found


def _locations(config, bdir, location):
    """What the drill proves, in order: "local" (the backup directory, when it holds an archive or was asked for),
    then each destination by name."""
    names = [d.name for d in config.destinations]
    if location not in ("all", "local", "s3", *names):
        raise ConfigError(f"unknown location {location!r}: use all, local, s3 or a destination ({', '.join(names)})")
    found = []
    if location == "local" or (location == "all" and local_latest(bdir)):
        found.append("local")
    if location in ("all", "s3"):
        found += names
    elif location in names:
        found.append(location)
    if not found:
        need = "S3_BUCKET_NAME" if location == "s3" else "CHECKNINER_BACKUP_DIR (with an archive) or S3_BUCKET_NAME"
        raise ConfigError(f"nothing to drill from {location}: set {need}")
    return found


def _local(bdir, name, warnings=()):
    """An archive in the backup directory, with state.json's record of its sha256."""
    return Found(name, "local", bdir.join(name), sha256=State.load(bdir).archive(name).get("sha256"),
                 warnings=list(warnings))  # fmt: skip


def _everywhere(config, bdir, ref, now, before):
    """The archive `ref` names in any location; `latest`: the newest of every location. A destination that cannot
    be reached is skipped when another location has an archive; raises its StoreError when none has."""
    where = bdir.path if bdir else "no CHECKNINER_BACKUP_DIR"
    if ref != "latest":
        if bdir and os.path.isfile(bdir.join(ref)):
            return _local(bdir, ref)
        for dest in config.destinations:
            store = stores.open(dest)
            if store.head(ref) is not None:
                return Found(ref, dest.name, destination=dest)
        raise ConfigError(
            f"no archive named {ref} in {where} or {describe_remote(config)}: "
            "`checkniner-backup list [--remote]` shows the names"
        )
    sequences, trust = _local_ranks(bdir), heads.Trust.of(config)
    local, oldest, warnings = _pick(bdir.archive_names() if bdir else [], now, _bound(before), where, sequences)
    oldest = [(where, oldest)] if oldest else []
    remote, remote_rank, remote_error = None, None, None
    for dest in config.destinations:
        try:
            name, sha, first, passed_over, sequence = _remote(stores.open(dest), now, before, trust)
        except StoreError as exc:
            remote_error = exc
            continue
        warnings += passed_over
        oldest += [(dest.describe(), first)] if first else []
        # at a time, by name (the time it was saved); else by rank, the pointer's sequence a hint that the
        # archive's signed manifest is held to when it is fetched
        ranked = rank(name, sequence) if before is None else name
        if name and (remote is None or ranked > remote_rank):
            remote, remote_rank = Found(name, dest.name, destination=dest, sha256=sha), ranked
    local_rank = (rank(local, sequences.get(local)) if before is None else local) if local else None
    if local and (remote is None or local_rank >= remote_rank or local == remote.name):
        return _local(bdir, local, warnings)
    if remote:
        return replace(remote, warnings=warnings)
    if remote_error is not None:
        raise remote_error
    if before is not None and oldest:
        raise _none_at(before, oldest)
    raise BackupError(f"no archive to restore: none in {where}, none in {describe_remote(config)}")


def _in(config, bdir, ref, location, now, before):
    """The archive `ref` names in one location ("local" or a destination's name); `latest`: its newest."""
    if location == "local":
        where = bdir.path if bdir else "no CHECKNINER_BACKUP_DIR"
        name, oldest = ref, None
        if ref == "latest":
            name, oldest, _warnings = _pick(bdir.archive_names() if bdir else [], now, _bound(before), where)
        if not name or bdir is None or not os.path.isfile(bdir.join(name)):
            if before is not None and oldest:
                raise _none_at(before, [(where, oldest)])
            raise BackupError(f"no archive {'' if ref == 'latest' else f'named {ref} '}in {where}")
        return _local(bdir, name)
    store = stores.open(next(d for d in config.destinations if d.name == location))
    name, sha, oldest, warnings = ref, None, None, []
    if ref == "latest":
        name, sha, oldest, warnings, _sequence = _remote(store, now, before, heads.Trust.of(config))
    if not name:
        if before is not None and oldest:
            raise _none_at(before, [(store.describe(), oldest)])
        raise BackupError(f"no archive in {store.describe()}: the off-site copy is missing")
    return Found(name, location, destination=store.dest, sha256=sha, warnings=warnings)


def archives_at(rows, before, now=None):
    """Of listing rows (oldest first per location: `list`), the one archive of each location that `--at` takes:
    the newest saved at or before `before`. Raises BackupError naming the oldest when no location has one."""
    now = now or utcnow()
    by_location = {}
    for row in rows:
        by_location.setdefault(row["location"], []).append(row["name"])
    chosen, oldest = set(), []
    for location, names in by_location.items():
        name, first, _warnings = _pick(names, now, _bound(before))
        chosen |= {(location, name)} if name else set()
        oldest += [(location, first)] if first else []
    if not chosen:
        if not oldest:
            raise BackupError(f"no archive saved at or before {iso(before)}: there is none")
        raise _none_at(before, oldest)
    return [row for row in rows if (row["location"], row["name"]) in chosen]


def describe_remote(config):
    """Where the remote archives are, for a message: every destination, or that there is none."""
    return stores.describe_all(config.destinations)
