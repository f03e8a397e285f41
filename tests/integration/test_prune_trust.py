"""Retention and `latest` count only authenticated archives (issue 19, case 7 and the planted pointer).

Someone who can write to the bucket, without the signing key, plants objects named later on the same days as the
genuine archives, a genuine archive copied under a later name, and a latest.json naming a planted object with a
hostile `sequence`. prune keeps every genuine archive its policy keeps, deletes none of the planted ones and lists
them; `latest` is the genuine archive with the highest signed save sequence, with a warning naming the pointer.

Real parts: one archive taken by `run` from the sample project's real PostgreSQL database; the genuine archives of
other days are that archive with its manifest's name and sequence set and signed again with the host's key (what the
host would have written those days); the stores are moto and s3rver (a second implementation: ranged GETs differ).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os

import boto3
import pytest
from botocore.config import Config
from support.archives import backup, repack

from checkniner_backup import archive

DAYS = [dt.datetime(2026, 3, day, tzinfo=dt.timezone.utc) for day in range(1, 6)]
ONLY_DAILY_3 = {
    "CHECKNINER_KEEP_WITHIN": "0",
    "CHECKNINER_KEEP_HOURLY": "0",
    "CHECKNINER_KEEP_DAILY": "3",
    "CHECKNINER_KEEP_WEEKLY": "0",
    "CHECKNINER_KEEP_MONTHLY": "0",
}


def stamp(when):
    return when.strftime(archive.STAMP) + archive.SUFFIX


class Bucket:
    """One S3 endpoint's bucket and the prefix this test writes under, reached as the attacker reaches it."""

    def __init__(self, endpoint_url, bucket, access_key, secret_key, prefix):
        self.endpoint_url, self.bucket, self.prefix = endpoint_url, bucket, prefix
        self.access_key, self.secret_key = access_key, secret_key
        config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2})
        self.client = boto3.session.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name="us-east-1"
        ).client("s3", endpoint_url=endpoint_url, config=config)

    def env(self):
        return {
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_BUCKET_NAME": self.bucket,
            "S3_ACCESS_KEY": self.access_key,
            "S3_SECRET_KEY": self.secret_key,
            "S3_PREFIX": self.prefix,
        }

    def put(self, name, body):
        sha = hashlib.sha256(body).hexdigest()
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=body, Metadata={"sha256": sha})
        return {"name": name, "sha256": sha, "size": len(body)}  # what a pointer to it says

    def pointer(self, doc):
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + "latest.json", Body=json.dumps(doc).encode())

    def names(self):
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        keys = [o["Key"][len(self.prefix) :] for p in pages for o in p.get("Contents", [])]
        return sorted(k for k in keys if archive.is_archive_name(k))


@pytest.fixture(params=["moto", "s3rver"])
def remote(request, s3, bucket, app_db):
    if request.param == "moto":
        from support.s3 import ACCESS_KEY, SECRET_KEY

        return Bucket(s3.endpoint_url, bucket, ACCESS_KEY, SECRET_KEY, "db/")
    server = request.getfixturevalue("s3rver")
    return Bucket(server.endpoint_url, server.bucket, server.access_key, server.secret_key, f"{app_db.name}/")


@pytest.fixture
def taken(run_cli, backup_env):
    """An archive `run` took of the real database, signed with the host's key (kept locally: S3 off)."""
    name = backup(run_cli, S3_BUCKET_NAME=None)
    return os.path.join(backup_env["CHECKNINER_BACKUP_DIR"], name)


def mint(src, tmp_path, name, sequence, remote, signed=True, manifest_name=None):
    """The bytes of the archive the host would have written as `name` with this sequence for the remote's prefix
    (signed=False: the same, unsigned, as anyone can make it; manifest_name: the signed manifest of another archive,
    copied under `name`)."""

    def edit(members, manifest):
        manifest["name"], manifest["sequence"] = manifest_name or name, sequence
        manifest["prefixes"] = [remote.prefix]
        if not signed:
            members.pop(archive.SIGNATURE)

    return open(repack(src, tmp_path / f"minted-{name}", edit), "rb").read()


def pruner_env(remote, signing_key, tmp_path):
    """The controller's trusted pruner: no backup directory, no signing key, the host's public key trusted."""
    return {
        **remote.env(),
        **ONLY_DAILY_3,
        "CHECKNINER_BACKUP_DIR": None,
        "CHECKNINER_SIGNING_KEY": None,
        "CHECKNINER_TRUSTED_KEYS": f"{signing_key}.pub",
        "HOME": str(tmp_path / "pruner-home"),
    }


def test_planted_names_win_no_slot_and_are_never_deleted(run_cli, remote, taken, signing_key, tmp_path):
    genuine = [stamp(day.replace(hour=1)) for day in DAYS]
    planted = [stamp(day.replace(hour=23)) for day in DAYS]  # later on each day: each day's newest by name
    copied = stamp(DAYS[-1].replace(hour=23, minute=30))  # the genuine archive of the first day, under a later name
    for sequence, name in enumerate(genuine, 1):
        remote.put(name, mint(taken, tmp_path, name, sequence, remote))
    for name in planted:
        remote.put(name, mint(taken, tmp_path, name, 99, remote, signed=False))
    remote.put(copied, mint(taken, tmp_path, copied, 1, remote, manifest_name=genuine[0]))
    assert remote.names() == sorted(genuine + planted + [copied])
    remote.pointer({"name": genuine[-1], "sequence": 5})
    env = pruner_env(remote, signing_key, tmp_path)

    dry = run_cli("prune", "--dry-run", "--json", env=env)
    assert dry.returncode == 0, dry.stderr
    (loc,) = [row for row in json.loads(dry.stdout)["locations"] if row["location"] == "s3"]
    assert loc["delete"] == genuine[:2]  # the policy's daily 3 over the genuine ones alone
    assert sorted(loc["unauthenticated"]) == sorted(planted + [copied])
    assert all(loc["unauthenticated"][name] == "not signed" for name in planted)
    assert f"holds the signed manifest of {genuine[0]}" in loc["unauthenticated"][copied]

    pruned = run_cli("prune", "--json", env=env)
    assert pruned.returncode == 0, pruned.stderr
    assert remote.names() == sorted(genuine[2:] + planted + [copied])  # every planted object left, none kept in a slot
    (loc,) = [row for row in json.loads(pruned.stdout)["locations"] if row["location"] == "s3"]
    assert loc["deleted"] == 2 and loc["heads_read"] == len(genuine) + len(planted) + 1
    assert f"unauthenticated, left {len(planted) + 1}: " in pruned.stderr + pruned.stdout

    again = run_cli("prune", "--json", env=env)  # every head was read once: the cache answers now
    (loc,) = [row for row in json.loads(again.stdout)["locations"] if row["location"] == "s3"]
    assert (loc["heads_read"], loc["deleted"], len(loc["unauthenticated"])) == (0, 0, len(planted) + 1)


HOSTILE = [-1, 10**30, 2**53 + 1, "99", 1.5, True, None, "missing"]


def test_a_planted_pointer_does_not_deny_latest(run_cli, remote, taken, tmp_path):
    """latest.json names an unsigned archive named after every genuine one, with hostile sequences: `latest` is the
    genuine archive with the highest signed sequence (one saved with the clock fast has a later name, a lower
    sequence), and the pointer is named in a warning. Without a pointer, the same."""
    first, fast, newest = stamp(DAYS[0]), stamp(DAYS[1].replace(hour=5)), stamp(DAYS[1].replace(hour=1))
    for name, seq in ((first, 1), (fast, 2), (newest, 3)):
        remote.put(name, mint(taken, tmp_path, name, seq, remote))
    planted = stamp(DAYS[2])
    planted_doc = remote.put(planted, mint(taken, tmp_path, planted, 10**6, remote, signed=False))
    lost = {**remote.env(), "CHECKNINER_BACKUP_DIR": str(tmp_path / "lost")}
    for sequence in HOSTILE:
        doc = dict(planted_doc)
        if sequence != "missing":
            doc["sequence"] = sequence
        remote.pointer(doc)
        proc = run_cli("restore", "--check", "--json", env=lost)
        assert proc.returncode == 0, (sequence, proc.stderr)
        result = json.loads(proc.stdout)
        assert result["archive"] == newest, (sequence, result)
        warned = f"latest.json names {planted}, which does not authenticate (not signed)"
        assert any(warned in w for w in result["warnings"]), (sequence, result["warnings"])

    remote.client.delete_object(Bucket=remote.bucket, Key=remote.prefix + "latest.json")
    proc = run_cli("restore", "--check", "--json", env=lost)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["archive"] == newest


def test_a_pointer_naming_a_genuine_archive_with_another_sequence_is_not_believed(run_cli, remote, taken, tmp_path):
    """A rollback through the pointer alone: latest.json names the older genuine archive and claims the newest's
    sequence; the signed manifest says otherwise, and the highest signed sequence is latest."""
    old, new = stamp(DAYS[0]), stamp(DAYS[1])
    old_doc = remote.put(old, mint(taken, tmp_path, old, 1, remote))
    remote.put(new, mint(taken, tmp_path, new, 2, remote))
    remote.pointer({**old_doc, "sequence": 2})
    proc = run_cli("restore", "--check", "--json", env={**remote.env(), "CHECKNINER_BACKUP_DIR": str(tmp_path / "l")})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["archive"] == new, result
    assert any("claims sequence 2, the archive's signed manifest 1" in w for w in result["warnings"]), result
