"""Prove: the restored database against the archive. In SQL mode every table's row count and the business tables'
row digests recorded at the snapshot (exact, no Django); through Django (the drill, and archives without digests)
the business fixtures' fingerprint recomputed by the application's own Django."""

import shutil
import tempfile

from .. import django_helper as protocol
from .. import pg, schema
from ..django_client import HelperProcess, last_phase
from ..errors import BackupError
from ..fingerprint import business_fingerprint, sql_fingerprint
from ..pg_admin import is_migrated, row_counts, table_key
from .replay import sql_counts


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
                if "app" in doc and doc["app"] in digests:
                    digests[doc["app"]] = doc.get("sha256") if doc.get("objects") else None
            helper.finish("the fingerprint of the restored database")
    finally:
        shutil.rmtree(outdir, ignore_errors=True)
    return digests


def migrate_check(config, target, workdir):
    """Migrations the application has and `target` misses (manage.py migrate --check, via the helper)."""
    done = last_phase(config, target, [protocol.MIGRATE_CHECK], workdir, what="migrate --check",
                      accept_failed=(protocol.MIGRATE_CHECK,))  # fmt: skip
    return done.get("missing", [])


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


def prove_sql(config, fetched, target, counts, work, result, through_django=False, replayed=None):
    """Row counts of every table, then the business data itself; fills result's tables, apps, fingerprint.

    replayed: the business tables' digests taken inside the replay's transaction, whose row-count checks passed
    (replay.replay_sql): nothing is scanned again then. Returns whether everything matched.
    """
    manifest = fetched.manifest
    recorded = manifest.table_digests
    if replayed is not None:
        digests, known = replayed, counts  # checked before COMMIT, in the transaction that wrote them
    else:
        digests = digests_of(target, manifest) if recorded else {}
        # the digest scan counted the business tables' rows already
        known = {table_key("public", t): d["rows"] for t, d in digests.items() if d["rows"] is not None}
    actual_counts, extra = row_counts(target, counts, known=known)
    result["tables"] = compare_tables(counts, actual_counts)
    result["extra_tables"] = extra
    differ = schema_differences(fetched, target, sequences=False)
    result["schema"] = {"match": not differ, "differences": differ}
    if schema.note(manifest.schema_digests):  # digests of a form a replay does not reproduce: not compared
        result["schema"]["note"] = schema.note(manifest.schema_digests)
    ok = not differ and all(v["match"] for v in result["tables"].values())
    if recorded:
        actual = {app: {t: digests[t] for t in tables} for app, tables in recorded.items()}
        result["apps"] = {
            app: {
                "match": actual[app] == recorded[app],
                "expected": sql_fingerprint({app: recorded[app]}),
                "actual": sql_fingerprint({app: actual[app]}),
            }
            for app in sorted(recorded)
        }
        result["fingerprint"] = {
            "method": "table digests",
            "expected": manifest.sql_fingerprint,
            "actual": sql_fingerprint(actual),
            "before_commit": replayed is not None,  # taken in the replay's transaction, else scanned after it
        }
        ok = ok and all(v["match"] for v in result["apps"].values())
        if not through_django:
            return ok
    expected = manifest.expected_fixtures()
    fixtures = business_digests(config, target, list(expected), work, manifest.fixture_format)
    django_apps = compare_apps(expected, fixtures)
    if recorded:
        result["django"] = {"apps": django_apps, "fingerprint": business_fingerprint(list(expected), fixtures)}
    else:
        result["apps"] = django_apps
        result["fingerprint"] = {
            "method": "fixtures",
            "expected": manifest.fingerprint,
            "actual": business_fingerprint(list(expected), fixtures),
        }
    return ok and all(v["match"] for v in django_apps.values())


def schema_differences(fetched, target, sequences=True):
    """The archive's schema objects the target lacks or holds differently ([] when the archive recorded none).
    sequences False: their values are read outside any snapshot, a busy site moves them between pg_dump and the
    digest; a proof must not fail on that (a mismatch in "already matches" only costs a replay)."""
    return schema.compare(fetched.manifest.schema_digests, target, proof=not sequences)


def matches_already(config, fetched, target, work, result):
    """Cheap first (the schema and the business tables' digests, when recorded), then the SQL's row counts, then the
    whole proof. The same rows with an index, a constraint or a large object missing is not the same database."""
    if not is_migrated(target)[0] or schema_differences(fetched, target):
        return False
    recorded = fetched.manifest.table_digests
    if recorded and digests_of(target, fetched.manifest) != {t: d for ts in recorded.values() for t, d in ts.items()}:
        return False
    counts = sql_counts(fetched)
    actual_counts, _extra = row_counts(target, counts)
    if actual_counts != counts:
        return False
    try:
        return prove_sql(config, fetched, target, counts, work, result)
    except BackupError:
        return False
