"""Change detection, cheapest first; each tier only when the one before could not decide.

1. precheck (one query): the cluster's next transaction id against the one recorded at the last settled snapshot.
2. statistics (two queries, no scan): the business tables' write counters and file nodes against those read before
   the snapshot whose digests are recorded, when nothing makes them uncertain (table_stats.py says what does).
3. digests: the business tables' row digests (a scan in the server, no Django) against those of the data the last
   fingerprint describes; django_migrations too (a new model).
4. fingerprint: the business fixtures through the application's own Django (snapshot.take's decide callback).
"""

from .. import latest, manifest, stores
from ..errors import StoreError
from ..pg import psycopg2_module
from ..snapshot import MIGRATIONS, table_digests
from . import table_stats


def last_fingerprint(config, bdir, state):
    """The fingerprint of the last archive: local state, else the newest local manifest, else a destination's pointer
    (so a host that lost its local directory does not upload a duplicate). (fingerprint, where it came from)."""
    if state.last.get("fingerprint"):
        return state.last["fingerprint"], "state"
    for name in reversed(latest.candidates(bdir.archive_names())):
        fingerprint = manifest.recorded_fingerprint(bdir.join(name))  # None for an encrypted or unreadable one
        if fingerprint:
            return fingerprint, "local archive"
    for dest in config.destinations:
        try:
            pointer = stores.open(dest).read_pointer()
        except StoreError:
            continue  # unknown: better one archive too many than none; it waits in the outbox
        if latest.pointer_name(pointer) and pointer.get("fingerprint"):  # not a pointer naming the future
            return pointer["fingerprint"], f"latest.json of {dest.describe()}"
    return None, None


def nothing_committed(state, known, identity, next_xid):
    """Tier 1: no transaction id assigned since the last settled snapshot of this data -> nothing committed."""
    precheck = state.precheck
    return (
        bool(known)
        and precheck.get("fingerprint") == known
        and precheck.get("identity") == identity
        and (precheck.get("xmax") == next_xid)
    )


def recorded_digests(state, known, identity):
    """Tier 3's reference: the digests recorded with the data `known` describes, on this database; {} when none."""
    digests = state.digests
    if digests.get("fingerprint") != known or digests.get("identity") != identity:
        return {}
    return digests


def statistics_now(config, recorded):
    """Tier 2's evidence, read before the snapshot: the write counters of the tables the recorded digests cover; None
    when the server refused a read (a proxy, a locked-down role): the digests decide then, as they always could."""
    try:
        return table_stats.read(config.database, _covered(recorded["tables"]))
    except psycopg2_module().Error:
        return None


def digests_needed(config, state, known, identity, evidence):
    """Tier 2: None when the statistics prove the business tables unchanged since the recorded digests were taken;
    else why the digests must run (recorded with them, in state.json)."""
    if evidence is None:
        return "the statistics could not be read"
    recorded = state.statistics
    if recorded.get("fingerprint") != known or recorded.get("identity") != identity:
        recorded = {}
    return table_stats.uncertain(recorded, evidence, recorded.get("skipped") or 0, config.full_digest_every)


def evidence_of(evidence, tables):
    """The evidence to record with digests of `tables` ({app: {table: digest}}): only when it covers just those."""
    if evidence is None or sorted(evidence["tables"]) != _covered(tables):
        return None
    return evidence


def _covered(tables_by_app):
    return sorted({t for by_table in tables_by_app.values() for t in by_table} | {MIGRATIONS})


def digests_now(config, snapshot_id, recorded):
    """Tier 3's scan: (business table digests, django_migrations digest) in the snapshot, each table by its recorded
    method (see snapshot.table_digests)."""
    tables = [d for by_table in recorded["tables"].values() for d in by_table.items()]
    methods = {t: d.get("method") for t, d in [*tables, (MIGRATIONS, recorded["migrations"])]}
    return table_digests(config.database, snapshot_id, {a: list(t) for a, t in recorded["tables"].items()}, methods)


def digests_unchanged(now, recorded):
    """Tier 3: the business tables and django_migrations hold the rows recorded."""
    return list(now) == [recorded["tables"], recorded["migrations"]]


def reusable(now, recorded):
    """Tier 3's digests, for the snapshot to record with a new archive instead of scanning the same tables again,
    when the schema has not changed since they were recorded (the same django_migrations: the same tables, and the
    same digest method is right for each); else None."""
    return now if now[1] == recorded["migrations"] else None
