"""One consistent snapshot: Django fixtures and pg_dump SQL, all read from one exported PostgreSQL snapshot.

The business fixtures come first; the caller decides from their fingerprint whether the rest (the other apps'
fixtures and the SQL) is worth taking at all.
"""

import os
import threading
from dataclasses import dataclass, field
from typing import Dict, Optional

from . import child_env, pg, schema
from .django_client import HelperProcess
from .django_helper import protocol
from .django_helper.protocol import Key
from .fingerprint import FIXTURE_FORMAT

MIGRATIONS = "django_migrations"


@dataclass
class Snapshot:
    fixtures: Dict[str, dict] = field(default_factory=dict)  # label -> {sha256, size, objects, business}
    sql: Optional[dict] = None  # {sha256, size} of <db>.sql
    tables: Dict[str, list] = field(default_factory=dict)  # label -> its tables
    table_digests: Dict[str, dict] = field(default_factory=dict)  # business label -> {table: {rows, sum}}
    migrations_digest: Optional[dict] = None  # of django_migrations: a new model means a new migration
    migrations: Dict[str, str] = field(default_factory=dict)
    schema_digests: Optional[Dict[str, str]] = None  # schema.py: indexes, constraints, sequences, large objects
    complete: bool = False


def table_digests(database, snapshot_id, tables_by_app, methods=None):
    """({app: {table: digest}}, digest of django_migrations) read from the snapshot (see pg.table_digests).

    methods: {table: method} to compare with recorded digests (default: the cheapest each table supports)."""
    flat = sorted({t for tables in tables_by_app.values() for t in tables} | {MIGRATIONS})
    digests = pg.snapshot_digests(database, snapshot_id, flat, methods)
    return {a: {t: digests[t] for t in ts} for a, ts in tables_by_app.items()}, digests[MIGRATIONS]


def take(config, workdir, decide, snapshot_id, digests=None):
    """Dump into workdir from the exported snapshot. decide(business_fixtures) -> bool: go on with the full dump?

    digests: (business table digests, django_migrations digest) already taken in this snapshot (change detection):
    recorded as they are when they cover the same business tables, instead of scanning them again.
    Returns a Snapshot; .complete is False when decide() said stop after the business apps.
    """
    database = config.database
    result = Snapshot()
    env = {
        protocol.ENV_APPS: ",".join(config.apps),
        protocol.ENV_SNAPSHOT: snapshot_id or "",
        protocol.ENV_HANDSHAKE: "1",
        protocol.ENV_FORMAT: str(FIXTURE_FORMAT),  # the format the manifest records
    }
    dump_thread = None
    dump_error = []
    try:
        with HelperProcess(config, database, [protocol.DUMP, workdir], workdir, env) as helper:
            for doc in helper.messages():
                if Key.APP in doc:
                    result.tables[doc[Key.APP]] = doc.get(Key.TABLES, [])
                    if doc.get(Key.OBJECTS):
                        result.fixtures[doc[Key.APP]] = doc
                elif doc.get(Key.PHASE) == protocol.BUSINESS_DONE:
                    go_on = decide({k: v[Key.SHA256] for k, v in result.fixtures.items()})
                    helper.send(protocol.CONTINUE if go_on else protocol.STOP)
                    business_tables = {a: result.tables.get(a, []) for a in config.apps}
                    if go_on:
                        # The SQL is read in parallel with the remaining fixtures, from the same snapshot.
                        dump_thread = _start_pg_dump(config, database, snapshot_id, workdir, result, dump_error)
                    # meanwhile, digests of the business tables: they prove an SQL restore without Django, and tell
                    # the next run's detection what this data looked like
                    if digests and _same_tables(digests[0], business_tables):
                        result.table_digests, result.migrations_digest = digests
                    else:
                        result.table_digests, result.migrations_digest = table_digests(
                            database, snapshot_id, business_tables
                        )
                    if go_on:  # what "the same database" means for a restore's "already matches"
                        result.schema_digests = schema.of_snapshot(database, snapshot_id)
                elif doc.get(Key.PHASE) in (protocol.DONE, protocol.STOPPED):
                    result.migrations = doc.get(Key.MIGRATIONS, {})
                    result.complete = doc[Key.PHASE] == protocol.DONE
            helper.finish("the fixtures dump")
    finally:
        if dump_thread is not None:
            dump_thread.join()
    if dump_error:
        raise dump_error[0]
    return result


def _same_tables(digests, tables_by_app):
    return {a: sorted(t) for a, t in digests.items()} == {a: sorted(t) for a, t in tables_by_app.items()}


def _start_pg_dump(config, database, snapshot_id, workdir, result, errors):
    path = os.path.join(workdir, f"{database.name}.sql")

    def run_dump():
        try:
            result.sql = pg.pg_dump(database, snapshot_id, path, child_env.libpq(config))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run_dump, name="pg_dump", daemon=True)
    thread.start()
    return thread
