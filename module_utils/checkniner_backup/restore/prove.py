"""Prove: the restored database against the archive. In SQL mode every table's row count and the business tables'
row digests recorded at the snapshot (exact, no Django); through Django (the drill, and archives without digests)
the business fixtures' fingerprint recomputed by the application's own Django."""

import shutil
import tempfile

from .. import pg, schema
from ..django_client import HelperProcess, last_phase
from ..django_helper import protocol
from ..django_helper.protocol import Key
from ..errors import BackupError
from ..fingerprint import business_fingerprint, sql_fingerprint
from ..pg_admin import is_migrated, row_counts, table_key
from .replay import sql_counts
from .result import Proof


def business_digests(config, target, apps, workdir, fixture_format):
    """{app: sha256 of its fixture or None}, dumped from `target` by the application's own Django, exactly as the
    snapshot dumps (the helper's dump of the business apps only), in the fixture format of the archive compared."""
    outdir = tempfile.mkdtemp(prefix="proof-", dir=workdir)
    digests = {app: None for app in apps}
    env = {
        protocol.ENV_APPS: ",".join(apps),
        protocol.ENV_ONLY_BUSINESS: "1",
        protocol.ENV_FORMAT: str(fixture_format),
    }
    try:
        with HelperProcess(config, target, [protocol.DUMP, outdir], workdir, env) as helper:
            for doc in helper.messages():
                if Key.APP in doc and doc[Key.APP] in digests:
                    digests[doc[Key.APP]] = doc.get(Key.SHA256) if doc.get(Key.OBJECTS) else None
            helper.finish("the fingerprint of the restored database")
    finally:
        shutil.rmtree(outdir, ignore_errors=True)
    return digests


def migrate_check(config, target, workdir):
    """Migrations the application has and `target` misses (manage.py migrate --check, via the helper)."""
    done = last_phase(config, target, [protocol.MIGRATE_CHECK], workdir, what="migrate --check",
                      accept_failed=(protocol.MIGRATE_CHECK,))  # fmt: skip
    return done.get(Key.MISSING, [])


def compare_apps(expected, actual):
    return {
        app: {"match": actual.get(app) == sha, "expected": sha, "actual": actual.get(app)}
        for app, sha in sorted(expected.items())
    }


def compare_tables(expected, actual):
    return {
        key: {"match": actual.get(key) == rows, "expected": rows, "actual": actual.get(key)}
        for key, rows in sorted(expected.items())
    }


def digests_of(target, manifest):
    """{table: digest} of the target's business tables, each by the method of its digest recorded in the manifest."""
    methods = manifest.digest_methods()
    conn = pg.connect(target)
    try:
        digests = pg.table_digests(conn, list(methods), methods)
    finally:
        conn.close()
    for table, method in methods.items():
        if method is None:  # recorded before digests named their method (md5): compare like with like
            digests[table].pop("method", None)
    return digests


def prove_sql(job, counts, through_django=False, replayed=None):
    """Row counts of every table, then the business data itself, of the database job.target (a Proving) restored
    from job.fetched. Returns the Proof (tables, extra_tables, schema, apps, fingerprint; django when through_django
    and the archive recorded table digests).

    replayed: the business tables' digests taken inside the replay's transaction, whose row-count checks passed
    (replay.replay_sql): nothing is scanned again then.
    """
    proof = Proof()
    proof.ok = _prove(job, counts, proof, through_django, replayed)
    return proof


def _prove(job, counts, proof, through_django, replayed):
    """prove_sql's body: fills `proof` as it goes (a caller that catches a failure halfway keeps what was found)."""
    fetched, target = job.fetched, job.target
    manifest = fetched.manifest
    recorded = manifest.table_digests
    if replayed is not None:
        digests, known = replayed, counts  # checked before COMMIT, in the transaction that wrote them
    else:
        digests = digests_of(target, manifest) if recorded else {}
        # the digest scan counted the business tables' rows already
        known = {table_key("public", t): d["rows"] for t, d in digests.items() if d["rows"] is not None}
    actual_counts, extra = row_counts(target, counts, known=known)
    proof.tables = compare_tables(counts, actual_counts)
    proof.extra_tables = extra
    differ = schema_differences(fetched, target, sequences=False)
    proof.schema = {"match": not differ, "differences": differ}
    # digests of a form a replay does not reproduce, or of another major version: not compared, and said so
    recorded_major = schema.major_of(manifest.doc.get("server_version"))
    why = schema.note(manifest.schema_digests, recorded_major, schema.server_major(target) if recorded_major else None)
    if why:
        proof.schema["note"] = why
    ok = not differ and all(v["match"] for v in proof.tables.values())
    if recorded:
        actual = {app: {t: digests[t] for t in tables} for app, tables in recorded.items()}
        proof.apps = {
            app: {
                "match": actual[app] == recorded[app],
                "expected": sql_fingerprint({app: recorded[app]}),
                "actual": sql_fingerprint({app: actual[app]}),
            }
            for app in sorted(recorded)
        }
        proof.fingerprint = {
            "method": "table digests",
            "expected": manifest.sql_fingerprint,
            "actual": sql_fingerprint(actual),
            "before_commit": replayed is not None,  # taken in the replay's transaction, else scanned after it
        }
        ok = ok and all(v["match"] for v in proof.apps.values())
        if not through_django:
            return ok
    expected = manifest.expected_fixtures()
    fixtures = business_digests(job.config, target, list(expected), job.work, manifest.fixture_format)
    django_apps = compare_apps(expected, fixtures)
    if recorded:
        proof.django = {"apps": django_apps, "fingerprint": business_fingerprint(list(expected), fixtures)}
    else:
        proof.apps = django_apps
        proof.fingerprint = {
            "method": "fixtures",
            "expected": manifest.fingerprint,
            "actual": business_fingerprint(list(expected), fixtures),
        }
    return ok and all(v["match"] for v in django_apps.values())


def schema_differences(fetched, target, sequences=True):
    """The archive's schema objects the target lacks or holds differently ([] when the archive recorded none).
    sequences False: their values are read outside any snapshot, a busy site moves them between pg_dump and the
    digest; a proof must not fail on that (a mismatch in "already matches" only costs a replay)."""
    manifest = fetched.manifest
    recorded_major = schema.major_of(manifest.doc.get("server_version"))
    return schema.compare(manifest.schema_digests, target, proof=not sequences, recorded_major=recorded_major)


def matches_already(job):
    """Whether job.target already holds job.fetched: cheap first (the schema and the business tables' digests, when
    recorded), then the SQL's row counts, then the whole proof. The same rows with an index, a constraint or a large
    object missing is not the same database. Returns the Proof when it got as far as the proof (ok: it matches; what
    it found is the check mode's diff), else None."""
    fetched, target = job.fetched, job.target
    if not is_migrated(target)[0] or schema_differences(fetched, target):
        return None
    recorded = fetched.manifest.table_digests
    if recorded and digests_of(target, fetched.manifest) != {t: d for ts in recorded.values() for t, d in ts.items()}:
        return None
    counts = sql_counts(fetched)
    actual_counts, _extra = row_counts(target, counts)
    if actual_counts != counts:
        return None
    proof = Proof()
    try:
        proof.ok = _prove(job, counts, proof, False, None)
    except BackupError:
        proof.ok = False
    return proof
