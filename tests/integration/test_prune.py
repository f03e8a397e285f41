"""`checkniner-backup prune` against real S3 endpoints: a 400-day history at 5-minute spacing (115,200 archives)
locally and in S3, exactly the expected set kept, nothing pending or pointed-to deleted, dry-run deleting nothing,
and peak memory that does not grow with the object count (10,000 vs 115,200 archives).

Two endpoints, both moto over HTTP, the engine talking plain boto3 to them:
- the harness's moto server (``s3``/``bucket``) for the small cases, objects uploaded with put_object;
- for the 100,000-object cases, a moto server started in this process (``big_s3``), because moto needs ~7 ms per
  put_object and rescans and re-sorts the whole bucket for every ListObjectsV2 page (quadratic: over an hour for
  115,200 keys). Its objects are created directly in moto's backend, and its ListObjectsV2 serves pages from one
  sorted listing made when a listing starts (continuation token = last key). Everything the engine sees still
  comes over HTTP through moto's own responses: paginated listing, the pointer, DeleteObjects in batches of 1,000.

Retention counts only authenticated archives (heads.py). The small cases upload real signed archives (their heads are
read by ranged GETs). The 100,000-object objects stay empty: their heads are recorded in the heads cache as a
previous prune leaves it (the engine's own listing rows and cache lines, signed by the trusted key), so this file
measures the listing, the planner and memory at scale with the cache read beside the listing; reading and
authenticating real heads is tests/integration/test_prune_trust.py's and tests/unit/test_heads.py's.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import os
import re
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from support.retention_oracle import expected_keep, history
from support.s3 import ACCESS_KEY, REGION, SECRET_KEY

from checkniner_backup import archive, config, heads, retention, retention_policy, signing, stores
from checkniner_backup.local import BackupDir

PREFIX = "db/"
DEFAULT = retention_policy.Retention()


@pytest.fixture(scope="module")
def host_key(tmp_path_factory):
    """The key the archives here are signed with, and the trusted-keys file naming it."""
    directory = tmp_path_factory.mktemp("keys")
    made = signing.keygen(str(directory / "signing.key"))
    return signing.load_private(made.private_key), made.public_key


def seed_heads(env, key):
    """The heads cache a previous prune leaves: every listed object (local and in the S3 destination) read once and
    found signed by `key`. Rows from the engine's own listings, lines in the engine's own format."""
    cfg = config.load(env, require_database=False)
    genuine = heads.Seen(key.public.fingerprint)
    cache = heads.cache_dir(cfg)
    os.makedirs(cache, exist_ok=True)
    bdir = BackupDir(cfg.backup_dir, create=False)
    places = [(f"local:{bdir.path}", retention._local_rows(bdir))]
    places += [(dest.describe(), stores.open(dest).iter_archives()) for dest in cfg.destinations]
    for where, rows in places:
        with open(heads.cache_path(cache, where), "w") as out:
            out.write("checkniner-heads 1\n")
            out.writelines(heads.cache_line(r["name"], r["size"], r["modified"], genuine) for r in rows)


@pytest.fixture
def backup_env(tmp_path, s3, bucket, host_key):
    """Overrides the harness's: prune needs no database, so no PostgreSQL here."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "CHECKNINER_TRUSTED_KEYS": host_key[1],
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "CHECKNINER_BACKUP_DIR": str(tmp_path / "backups"),
        "S3_ACCESS_KEY": ACCESS_KEY,
        "S3_SECRET_KEY": SECRET_KEY,
        "S3_BUCKET_NAME": bucket,
        "S3_ENDPOINT_URL": s3.endpoint_url,
        "S3_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


# -- the in-process endpoint for 100,000 objects ----------------------------------------------------------------


class BigS3:
    def __init__(self, server, backend, endpoint_url):
        self.server, self.backend, self.endpoint_url = server, backend, endpoint_url

    def create_bucket(self, names, pointer=None):
        """A bucket holding PREFIX + each name (empty objects), and latest.json naming `pointer`."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import FakeKey

        bucket_name = f"cnb-big-{uuid.uuid4().hex[:12]}"
        bucket = self.backend.create_bucket(bucket_name, REGION)
        for name in names:
            key = PREFIX + name
            bucket.keys[key] = FakeKey(name=key, value=b"", account_id=DEFAULT_ACCOUNT_ID, region_name=REGION)
        if pointer:
            body = json.dumps({"name": pointer, "sha256": "0" * 64, "size": 0, "fingerprint": None}).encode()
            key = PREFIX + "latest.json"
            bucket.keys[key] = FakeKey(name=key, value=body, account_id=DEFAULT_ACCOUNT_ID, region_name=REGION)
        return bucket_name

    def names(self, bucket_name):
        bucket = self.backend.get_bucket(bucket_name)
        return sorted(k[len(PREFIX) :] for k in bucket.keys.keys() if k.endswith((".tar.gz", ".tar.gz.gpg")))

    def env(self, bucket_name, tmp_path, backup_dir=None):
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(tmp_path),
            "LANG": "C.UTF-8",
            "S3_ACCESS_KEY": ACCESS_KEY,
            "S3_SECRET_KEY": SECRET_KEY,
            "S3_BUCKET_NAME": bucket_name,
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        if backup_dir:
            env["CHECKNINER_BACKUP_DIR"] = str(backup_dir)
        return env


def _paged_list_objects_v2(self, bucket, prefix, delimiter, continuation_token, start_after, max_keys):
    """ListObjectsV2 without moto's full rescan per page: one sorted listing per listing, pages cut by bisect."""
    cache = self.__dict__.setdefault("_cnb_listings", {})
    if continuation_token is None:
        cache[bucket.name] = sorted(k for k in bucket.keys.keys() if k.startswith(prefix or ""))
    listing = cache[bucket.name]
    after = continuation_token or start_after
    start = bisect.bisect_right(listing, after) if after else 0
    page = [bucket.keys[k] for k in listing[start : start + max_keys] if k in bucket.keys]
    assert not delimiter or not any(delimiter in k.name[len(prefix or "") :] for k in page)  # no folders here
    truncated = start + max_keys < len(listing)
    return page, truncated, (listing[start + max_keys - 1] if truncated else None)


@pytest.fixture(scope="module")
def big_s3():
    from moto.core import DEFAULT_ACCOUNT_ID, serialize
    from moto.s3.models import S3Backend, s3_backends
    from moto.server import ThreadedMotoServer

    saved = S3Backend.list_objects_v2, serialize.parse_to_aware_datetime
    S3Backend.list_objects_v2 = _paged_list_objects_v2
    serialize.parse_to_aware_datetime = _fast_timestamp
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield BigS3(server, s3_backends[DEFAULT_ACCOUNT_ID]["aws"], f"http://{host}:{port}")
    finally:
        server.stop()
        S3Backend.list_objects_v2, serialize.parse_to_aware_datetime = saved


def _fast_timestamp(value):
    """moto renders every LastModified by parsing its own ISO string back with dateutil (~0.5 ms per key)."""
    from botocore.utils import parse_to_aware_datetime

    if isinstance(value, str) and value.endswith("Z") and "T" in value:
        try:
            return dt.datetime.fromisoformat(value[:-1]).replace(tzinfo=dt.timezone.utc)
        except ValueError:
            pass
    return parse_to_aware_datetime(value)


MEASURE = """
import json, sys, tracemalloc
tracemalloc.start()
from checkniner_backup import cli
code = cli.main(sys.argv[2:])
traced_peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve, so it would report the parent (this test process, with
# moto's 100,000 objects) instead of the prune
with open("/proc/self/status") as status:
    hwm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "traced_peak": traced_peak, "peak_rss": hwm_kb * 1024}, out)
"""


def measured_prune(env, tmp_path, *args):
    """Run the command line in a fresh interpreter; returns (process, {"code", "traced_peak", "peak_rss"})."""
    report = tmp_path / f"memory-{uuid.uuid4().hex[:8]}.json"
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, str(report), "prune", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert report.exists(), proc.stderr[-3000:]
    return proc, json.loads(report.read_text())


def lines_of(output):
    return [line.split(": ", 1)[1] for line in output.splitlines() if " checkniner-backup prune: " in line]


def deleted_names(line):
    """The names listed after "...would delete N: " / "...deleted N: "."""
    match = re.search(r"(?:would delete|deleted) \d+: ([^;]*)", line)
    return match.group(1).split() if match else []


def on_disk(path):
    return sorted(n for n in os.listdir(path) if n.endswith((".tar.gz", ".tar.gz.gpg")) and n != "latest.tar.gz")


class Scenario:
    """`count` archives at 5-minute spacing, locally and in S3, with three pins the policy alone would delete: one
    waiting in the outbox (here and in S3: its upload was never confirmed), the one latest.tar.gz points at (an
    operator pointed it back), and the one latest.json names in S3."""

    def __init__(self, big_s3, tmp_path, count, host_key):
        self.big_s3 = big_s3
        self.names = history(count * 5 // (24 * 60) + 1)[:count]
        self.pending, self.linked, self.pointed = self.names[100], self.names[200], self.names[300]
        self.bucket = big_s3.create_bucket(self.names, pointer=self.pointed)
        self.backups = tmp_path / f"backups-{count}"
        (self.backups / "outbox" / "s3").mkdir(parents=True)
        for name in self.names:
            (self.backups / name).touch()
        (self.backups / "outbox" / "s3" / self.pending).write_text("{}")
        os.symlink(self.linked, self.backups / "latest.tar.gz")
        state = {"archives": {n: {"sha256": "0" * 64} for n in self.names[::100]}}
        state["destinations"] = {"s3": {"reconciled": "2026-04-05T00:00:00+00:00"}}  # every archive was queued
        (self.backups / "state.json").write_text(json.dumps(state))
        self.env = {**big_s3.env(self.bucket, tmp_path, self.backups), "CHECKNINER_TRUSTED_KEYS": host_key[1]}
        seed_heads(self.env, host_key[0])
        policy_keep = expected_keep(self.names, DEFAULT)
        self.want_local = policy_keep | {self.pending, self.linked}
        self.want_s3 = self.want_local | {self.pointed}
        assert len(self.want_s3) == len(policy_keep) + 3  # each pin saves an archive the policy alone would delete

    def check_lines(self, output, verb):
        local_line, s3_line = lines_of(output)
        total = len(self.names)
        deleted = total - len(self.want_local)
        assert local_line.startswith(
            f"local ({self.backups}): {total} archive(s), kept {len(self.want_local)}, {verb} {deleted}: "
        )
        assert s3_line.startswith(f"s3 (s3://{self.bucket}/{PREFIX} at {self.big_s3.endpoint_url}): {total} archive")
        assert deleted_names(local_line) == sorted(set(self.names) - self.want_local)
        assert deleted_names(s3_line) == sorted(set(self.names) - self.want_s3)

    def check_nothing_deleted(self):
        assert on_disk(self.backups) == self.names
        assert self.big_s3.names(self.bucket) == self.names

    def check_pruned(self):
        assert on_disk(self.backups) == sorted(self.want_local)
        assert os.readlink(self.backups / "latest.tar.gz") == self.linked
        assert self.big_s3.names(self.bucket) == sorted(self.want_s3)
        state = json.loads((self.backups / "state.json").read_text())
        assert set(state["archives"]) == {n for n in self.names[::100] if n in self.want_local}


def mib(value):
    return f"{value / 2**20:.1f} MiB"


def test_400_days_locally_and_in_s3_exact_set_pins_survive_memory_flat(big_s3, tmp_path, host_key):
    """10,000 archives (35 days) locally and in S3: the dry run deletes nothing and lists exactly what the real
    prune then deletes. Then the acceptance history, 400 days at 5-minute spacing (115,200 archives) locally and in
    S3: exactly the expected set stays, the pins survive, and the peak memory of the prune grows by the names
    themselves (~100 bytes each), nowhere near the 11.5-fold object count."""
    small = Scenario(big_s3, tmp_path, 10_000, host_key)
    dry = subprocess.run(
        [sys.executable, "-m", "checkniner_backup.cli", "prune", "--dry-run"],
        env=small.env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert dry.returncode == 0, dry.stderr[-3000:]
    small.check_lines(dry.stdout, "would delete")
    small.check_nothing_deleted()
    proc, small_memory = measured_prune(small.env, tmp_path)
    assert small_memory["code"] == 0, proc.stderr[-3000:]
    small.check_lines(proc.stdout, "deleted")  # exactly what the dry run listed
    small.check_pruned()

    big = Scenario(big_s3, tmp_path, 115_200, host_key)
    assert big.names[0].startswith("2025-03-01T0000") and big.names[-1].startswith("2026-04-04T2355")
    proc, big_memory = measured_prune(big.env, tmp_path)
    assert big_memory["code"] == 0, proc.stderr[-3000:]
    big.check_lines(proc.stdout, "deleted")
    big.check_pruned()

    report = (
        f"10,000: peak traced {mib(small_memory['traced_peak'])}, peak RSS {mib(small_memory['peak_rss'])}; "
        f"115,200: peak traced {mib(big_memory['traced_peak'])}, peak RSS {mib(big_memory['peak_rss'])}"
    )
    print(f"\nprune memory (local + S3) {report}")
    assert big_memory["traced_peak"] < 3 * small_memory["traced_peak"], report
    assert big_memory["peak_rss"] < 2 * small_memory["peak_rss"], report
    # per extra archive (listed twice, locally and in S3): its names and places in a few lists, no per-object dict
    per_archive = (big_memory["traced_peak"] - small_memory["traced_peak"]) / (115_200 - 10_000)
    assert per_archive < 1000, f"{per_archive:.0f} bytes per archive; {report}"


# -- small cases on the harness's moto server -------------------------------------------------------------------


def signed_archive(key, name, tmp_path):
    """The bytes of a small archive of ours named `name`, signed with `key` (what the host uploads)."""
    sql = tmp_path / f"sql-{name}"
    sql.write_bytes(b"SELECT 1;\n")
    manifest = {"format": "checkniner-backup", "name": name, "database": "db", "prefixes": [PREFIX],
                "members": {"db.sql": {"size": 10}}}  # fmt: skip
    path = tmp_path / f"signed-{name}"
    archive.write_archive(str(path), [("db.sql", str(sql))], manifest, 0, sign=lambda data: signing.sign(key, data))
    return path.read_bytes()


def put_archives(s3, bucket, names, key, tmp_path):
    client = s3.client()
    bodies = {n: signed_archive(key, n, tmp_path) for n in names}
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: client.put_object(Bucket=bucket, Key=PREFIX + n, Body=bodies[n]), names))


def s3_names(s3, bucket):
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX)
    return sorted(o["Key"][len(PREFIX) :] for p in pages for o in p.get("Contents", []) if o["Key"].endswith(".gz"))


def test_one_destination_down_the_others_still_pruned(run_cli, s3, bucket, tmp_path, host_key):
    names = history(3, minutes=60)
    put_archives(s3, bucket, names, host_key[0], tmp_path)
    env = {
        "CHECKNINER_BACKUP_DIR": None,
        "CHECKNINER_BACKUP_DESTINATIONS": "gone",
        "S3_GONE_BUCKET_NAME": "cnb-no-such-bucket",
        "S3_GONE_ENDPOINT_URL": s3.endpoint_url,
        "S3_GONE_ACCESS_KEY": ACCESS_KEY,
        "S3_GONE_SECRET_KEY": SECRET_KEY,
        "CHECKNINER_KEEP_WITHIN": "0",
        "CHECKNINER_KEEP_HOURLY": "0",
    }
    result = run_cli("prune", "--json", env=env)
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    s3_loc, gone = doc["locations"]
    assert (s3_loc["location"], s3_loc["error"], s3_loc["deleted"]) == ("s3", None, len(names) - 3)
    assert gone["location"] == "gone" and "cnb-no-such-bucket" in gone["error"]
    assert "gone (s3://cnb-no-such-bucket/db/" in result.stderr and "failed: S3 bucket" in result.stderr
    want = expected_keep(names, retention_policy.Retention(within_seconds=0, hourly=0))
    assert s3_names(s3, bucket) == sorted(want) and len(want) == 3


def test_bad_retention_variable_exit_2_nothing_deleted(run_cli, s3, bucket, host_key, tmp_path):
    names = history(1, minutes=60)
    put_archives(s3, bucket, names, host_key[0], tmp_path)
    result = run_cli("prune", env={"CHECKNINER_KEEP_MONTHLY": "all"})
    assert result.returncode == 2
    assert result.stderr.splitlines()[0].endswith(
        "checkniner-backup prune: failed: CHECKNINER_KEEP_MONTHLY must be a whole number of monthly archives to "
        "keep (0 turns it off), not 'all'"
    )
    assert s3_names(s3, bucket) == names
