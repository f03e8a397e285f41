"""Authenticated heads (heads.py, archive.head_from_prefix): what a ranged read of an archive's first bytes proves,
the bound on what is read, and the cache that reads each object once. Real signed archives, written by
archive.write_archive and signed with a real key; the store is a dictionary of bytes (the boundary faked)."""

from __future__ import annotations

import json
import os

import pytest

from checkniner_backup import archive, heads, signing
from checkniner_backup.errors import IntegrityError

NAME = "2026-03-01T000000Z.tar.gz"


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    directory = tmp_path_factory.mktemp("key")
    return signing.load_private(signing.keygen(str(directory / "k")).private_key)


def make(tmp_path, key, name=NAME, sequence=1, signed=True, manifest_name=None, sql=200_000, extra=None):
    """The bytes of an archive of ours: manifest first, its signature (when signed), then an incompressible SQL."""
    sql_path = tmp_path / f"{name}-db.sql"
    sql_path.write_bytes(os.urandom(sql))
    manifest = {
        "format": "checkniner-backup",
        "name": manifest_name or name,
        "sequence": sequence,
        "database": "db",
        "prefixes": ["db/"],
        "members": {"db.sql": {"size": sql}},
        **(extra or {}),
    }
    path = tmp_path / f"out-{name}"
    sign = (lambda data: signing.sign(key, data)) if signed else None
    archive.write_archive(str(path), [("db.sql", str(sql_path))], manifest, 0, sign=sign)
    return path.read_bytes()


class Store:
    """Objects as bytes; counts the ranged reads."""

    def __init__(self, objects):
        self.objects, self.reads = dict(objects), []

    def read_prefix(self, name, length):
        self.reads.append((name, length))
        data = self.objects.get(name)
        return None if data is None else data[:length]

    def rows(self):
        return [
            {"name": n, "size": len(b), "modified": "2026-03-01T00:00:00+00:00"}
            for n, b in sorted(self.objects.items())
        ]


class Dest:
    prefix = "db/"


def seen_of(data, name=NAME):
    return heads.examine(lambda n: data[:n], name, "s3", Dest())


def test_every_prefix_of_a_signed_head_is_short_or_the_whole_head_never_unsigned(tmp_path, key):
    data = make(tmp_path, key, sql=2000)
    whole = archive.head_from_prefix(data, NAME, True)
    assert whole.signature is not None
    for end in range(0, len(data)):
        try:
            head = archive.head_from_prefix(data[:end], NAME, False)
        except archive.ShortHead:
            continue
        assert (head.manifest_bytes, head.signature) == (whole.manifest_bytes, whole.signature), end


def test_a_truncated_object_does_not_authenticate(tmp_path, key):
    data = make(tmp_path, key, sql=2000)
    with pytest.raises(IntegrityError, match="truncated"):
        archive.head_from_prefix(data[:60], NAME, True)


def test_signed_by_a_trusted_key_authenticates_with_its_signed_sequence(tmp_path, key):
    seen = seen_of(make(tmp_path, key, sequence=7))
    assert (seen.signer, seen.sequence, seen.problem) == (key.public.fingerprint, 7, "")
    assert seen.why_not({key.public.fingerprint}) == ""
    assert "not trusted" in seen.why_not(set())


@pytest.mark.parametrize(
    "kwargs, why",
    [
        ({"signed": False}, "not signed"),
        ({"manifest_name": "2026-01-01T000000Z.tar.gz"}, "holds the signed manifest of 2026-01-01T000000Z.tar.gz"),
        ({"extra": {"prefixes": ["other/"]}}, "was written for other/"),
        ({"extra": {"format": "something-else"}}, "no checkniner-backup manifest"),
    ],
)
def test_what_does_not_authenticate_says_why(tmp_path, key, kwargs, why):
    seen = seen_of(make(tmp_path, key, **kwargs))
    assert why in seen.why_not({key.public.fingerprint})


def test_a_signature_over_another_manifest_does_not_authenticate(tmp_path, key):
    genuine = make(tmp_path, key)
    forged = archive.head_from_prefix(genuine, NAME, True)
    bad = signing.sign(key, forged.manifest_bytes + b" ")  # valid signature, over other bytes
    path = tmp_path / "forged"
    sql = tmp_path / "sql"
    sql.write_bytes(b"x")
    archive.write_archive(str(path), [("db.sql", str(sql))], json.loads(forged.manifest_bytes), 0, sign=lambda _d: bad)
    assert "does not match its signature" in seen_of(path.read_bytes()).problem


def test_encrypted_and_garbage_and_oversized_heads_do_not_authenticate(tmp_path, key, monkeypatch):
    assert heads.examine(lambda n: b"x", NAME + ".gpg").problem == heads.ENCRYPTED
    assert "not a gzip stream" in seen_of(b"not gzip at all").problem
    big = make(tmp_path, key, extra={"media": [os.urandom(48).hex() for _ in range(40_000)]})  # ~4 MB manifest
    monkeypatch.setattr(heads, "HEAD_LIMIT", 256 * 1024)
    reads = []
    seen = heads.examine(lambda n: reads.append(n) or big[:n], NAME, "s3", Dest())
    assert "does not fit in its first 262144 bytes" in seen.problem
    assert reads == [64 * 1024, 256 * 1024]  # bounded: never more than HEAD_LIMIT


def test_the_cache_reads_each_object_once_and_trust_changes_apply_at_once(tmp_path, key):
    store = Store({NAME: make(tmp_path, key), "2026-03-02T000000Z.tar.gz": make(tmp_path, key, signed=False)})
    path = str(tmp_path / "cache" / "heads.tsv")

    def scan():
        with heads.Scan(path, store.read_prefix) as each:
            return {row["name"]: each.seen(row) for row in store.rows()}, each.read

    first, read = scan()
    assert read == 2 and first[NAME].signer == key.public.fingerprint
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    again, read = scan()
    assert (again, read) == (first, 0)
    assert again[NAME].why_not(set()) and not again[NAME].why_not({key.public.fingerprint})  # trust is not cached
    store.objects[NAME] = make(tmp_path, key, signed=False)  # replaced: another size, read again
    third, read = scan()
    assert read == 1 and third[NAME].signer is None
    del store.objects["2026-03-02T000000Z.tar.gz"]  # gone from the listing: gone from the cache
    scan()
    assert [line.split("\t")[0] for line in open(path).read().splitlines()[1:]] == [NAME]


def test_a_damaged_cache_line_is_read_again_not_trusted(tmp_path, key):
    store = Store({NAME: make(tmp_path, key)})
    path = tmp_path / "heads.tsv"
    row = store.rows()[0]
    path.write_text(f"checkniner-heads 1\n{NAME}\t{row['size']}\t{row['modified']}\tSHA256:x\tnot-a-number\t\n")
    with heads.Scan(str(path), store.read_prefix) as scan:
        assert scan.seen(row).signer == key.public.fingerprint and scan.read == 1


def test_prune_local_counts_its_own_records_and_authenticated_heads_and_leaves_the_rest(tmp_path, key):
    """The backup directory: what state.json recorded is this host's own; an archive it has no record of counts when
    its head authenticates (signed for the directory: no prefix); a planted one later on the same day is left."""
    from checkniner_backup import retention, retention_policy
    from checkniner_backup.local import BackupDir
    from checkniner_backup.state import State

    recorded, signed, third = (f"2026-03-0{day}T010000Z.tar.gz" for day in (1, 2, 3))
    late = "2026-03-03T230000Z.tar.gz"
    bdir = BackupDir(str(tmp_path / "backups"))
    (tmp_path / "backups" / recorded).write_bytes(b"saved by this host, recorded in state.json")
    for name, kwargs in ((signed, {}), (third, {}), (late, {"signed": False})):
        data = make(tmp_path, key, name=name, extra={"prefixes": []}, **kwargs)
        (tmp_path / "backups" / name).write_bytes(data)
    state = State(bdir, {"archives": {recorded: {"sha256": "0" * 64}}})
    policy = retention_policy.Retention(within_seconds=0, hourly=0, daily=2, weekly=0, monthly=0)
    row = retention.prune_local(bdir, policy, {}, state, True, {key.public.fingerprint}, str(tmp_path / "heads"))
    assert row["unauthenticated"] == {late: "not signed"}
    assert sorted(row["keep"]) == [signed, third] and row["delete"] == [recorded]
    assert row["archives"] == 4


class PointedStore(Store):
    """A destination: objects, a latest.json, and how it names itself (latest._remote's reads)."""

    def __init__(self, objects, pointer=None):
        super().__init__(objects)
        self.pointer, self.dest = pointer, Dest()

    def describe(self):
        return "s3://b/db/"

    def read_pointer(self):
        return self.pointer

    def iter_archives(self):
        return iter(self.rows())


def test_latest_is_the_highest_signed_sequence_past_a_planted_pointer(tmp_path, key):
    import datetime as dt

    from checkniner_backup import latest

    now = dt.datetime(2026, 4, 1, tzinfo=dt.timezone.utc)
    one, fast, three = "2026-03-01T000000Z.tar.gz", "2026-03-02T050000Z.tar.gz", "2026-03-02T010000Z.tar.gz"
    planted = "2026-03-03T000000Z.tar.gz"
    objects = {
        one: make(tmp_path, key, one, 1),
        fast: make(tmp_path, key, fast, 2),
        three: make(tmp_path, key, three, 3),
    }
    objects[planted] = make(tmp_path, key, planted, 10**6, signed=False)
    trust = heads.Trust(frozenset({key.public.fingerprint}))
    for sequence in (10**30, -1, "9", 1.5, True, None):
        store = PointedStore(objects, {"name": planted, "sequence": sequence})
        name, _sha, warnings = latest.remote_latest(store, now, trust=trust)
        assert name == three, sequence
        assert any(f"latest.json names {planted}, which does not authenticate (not signed)" in w for w in warnings)
    assert latest.remote_latest(PointedStore(objects), now, trust=trust)[0] == three  # no pointer: the same
    genuine = PointedStore(objects, {"name": three, "sequence": 3, "sha256": "s"})
    assert latest.remote_latest(genuine, now, trust=trust) == (three, "s", [])  # one ranged read, no listing
    assert genuine.reads == [(three, heads.FIRST_READ)]
    # nothing trusted: names decide as before signing, and fetch refuses the unsigned one
    assert latest.remote_latest(PointedStore(objects), now, trust=heads.Trust())[0] == planted
