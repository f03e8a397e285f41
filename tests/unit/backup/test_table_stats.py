"""The statistics tier's verdict (backup/table_stats.uncertain): unchanged only when nothing can have lost, reset or
bypassed the counters; every other difference sends the run to the digests, with the reason recorded."""

import copy

import pytest

from checkniner_backup.backup.table_stats import uncertain

EPOCH = {
    "version": 150004,
    "recovery": False,
    "track_counts": "on",
    "started": "2026-01-01 00:00:00+00",
    "reset": None,
    "shared_reset": "2026-01-01 00:00:00+00",
}
# [oid, relkind, filenode, class xmin, column xmins, inserted, updated, deleted]
TABLES = {"checkouts_checkout": [16400, "r", 16400, "750", "750,750", 1000, 3, 1], "django_migrations": [16390, "r",
          16390, "740", "740,740", 20, 0, 0]}  # fmt: skip
RECORDED = {"epoch": EPOCH, "tables": TABLES}


def _now(**changes):
    now = copy.deepcopy(RECORDED)
    for key, value in changes.items():
        if key in EPOCH:
            now["epoch"][key] = value
        else:
            table, index = key.rsplit("__", 1)
            now["tables"][table][int(index)] = value
    return now


def test_the_same_counters_prove_nothing_changed():
    assert uncertain(RECORDED, _now(), skipped=3, every=12) is None


@pytest.mark.parametrize(
    "changes, why",
    [
        ({"checkouts_checkout__5": 1001}, "rows of checkouts_checkout were written"),
        ({"checkouts_checkout__6": 4}, "rows of checkouts_checkout were written"),
        ({"checkouts_checkout__7": 2}, "rows of checkouts_checkout were written"),
        ({"django_migrations__5": 21}, "rows of django_migrations were written"),
        (
            {"checkouts_checkout__2": 16500},
            "checkouts_checkout was rewritten (TRUNCATE, VACUUM FULL, CLUSTER, ALTER TABLE)",
        ),
        ({"checkouts_checkout__0": 16501}, "checkouts_checkout was created again"),
        ({"checkouts_checkout__3": "800"}, "checkouts_checkout's definition changed"),
        ({"checkouts_checkout__4": "750,750,800"}, "checkouts_checkout's definition changed"),
        ({"checkouts_checkout__1": "v"}, "checkouts_checkout is not a plain table (no write counters of its own)"),
        ({"checkouts_checkout__0": None}, "checkouts_checkout does not exist"),
        ({"started": "2026-01-02 00:00:00+00"}, "the server restarted"),
        ({"shared_reset": "2026-01-02 00:00:00+00"}, "the statistics were discarded (a crash) or reset"),
        ({"reset": "2026-01-02 00:00:00+00"}, "the statistics were reset"),
        ({"version": 140010}, "PostgreSQL before 15 can lose statistics"),
        ({"recovery": True}, "a standby does not count replayed writes"),
        ({"track_counts": "off"}, "track_counts is off"),
    ],
)
def test_what_makes_the_counters_uncertain(changes, why):
    assert uncertain(RECORDED, _now(**changes), skipped=0, every=12) == why


def test_a_table_more_or_less_than_recorded():
    now = _now()
    now["tables"]["checkouts_pilotweight"] = [16600, "r", 16600, "760", "760", 0, 0, 0]
    assert uncertain(RECORDED, now, 0, 12) == "the business tables are not those recorded"


@pytest.mark.parametrize("recorded", [{}, None, {"epoch": "x", "tables": {}}, {"epoch": EPOCH, "tables": []}])
def test_nothing_or_something_malformed_recorded(recorded):
    assert uncertain(recorded, _now(), 0, 12) == "no statistics recorded with the digests"


def test_a_recorded_table_of_another_shape_is_a_difference():
    recorded = copy.deepcopy(RECORDED)
    recorded["tables"]["checkouts_checkout"] = [16400, "r"]
    assert uncertain(recorded, _now(), 0, 12) == "checkouts_checkout was created again"


@pytest.mark.parametrize(
    "skipped, every, why",
    [
        (11, 12, None),
        (12, 12, "the digests run at least every 12 runs"),
        (1, 1, "the digests run at least every 1 runs"),
        (0, 0, "CHECKNINER_FULL_DIGEST_EVERY is 0: the digests decide every run"),
    ],
)
def test_the_digests_run_at_least_every_n_runs(skipped, every, why):
    assert uncertain(RECORDED, _now(), skipped, every) == why


def test_statistics_the_server_refuses_leave_the_decision_to_the_digests(monkeypatch, tmp_path):
    import psycopg2

    from checkniner_backup import config
    from checkniner_backup.backup import detect, table_stats
    from checkniner_backup.local import BackupDir
    from checkniner_backup.state import State

    def refused(database, tables):
        raise psycopg2.errors.InsufficientPrivilege("permission denied for view pg_stat_archiver")

    monkeypatch.setattr(table_stats, "read", refused)
    cfg = config.load({"DATABASE_URL": "postgres://app@127.0.0.1:1/app"})
    recorded = {"tables": {"checkouts": {"checkouts_checkout": {}}}, "migrations": {}}
    evidence = detect.statistics_now(cfg, recorded)
    assert evidence is None
    state = State(BackupDir(str(tmp_path / "b")))
    assert detect.digests_needed(cfg, state, "f", {}, evidence) == "the statistics could not be read"


@pytest.mark.parametrize("value, parsed", [(None, 12), ("0", 0), ("24", 24)])
def test_full_digest_every_is_a_count(value, parsed):
    from checkniner_backup import config

    env = {} if value is None else {"CHECKNINER_FULL_DIGEST_EVERY": value}
    assert config.load(env, require_database=False).full_digest_every == parsed


@pytest.mark.parametrize("value", ["-1", "hourly", "1.5"])
def test_a_bad_full_digest_every_is_one_line_naming_the_variable(value):
    from checkniner_backup import config

    with pytest.raises(config.ConfigError) as exc:
        config.load({"CHECKNINER_FULL_DIGEST_EVERY": value}, require_database=False)
    assert str(exc.value) == f"CHECKNINER_FULL_DIGEST_EVERY must be a whole number (0 allowed), not {value!r}"
