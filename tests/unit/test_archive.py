import datetime as dt
import gzip
import hashlib
import json
import subprocess

import pytest

from checkniner_backup import archive
from checkniner_backup.errors import IntegrityError
from checkniner_backup.fingerprint import business_fingerprint

UTC = dt.timezone.utc


def test_name_is_utc_without_colons_and_strictly_increasing():
    when = dt.datetime(2026, 11, 23, 21, 30, 5, 123, tzinfo=UTC)
    name = archive.name_for(when)
    assert name == "2026-11-23T213005Z.tar.gz"
    assert ":" not in name
    assert archive.name_for(when, [name]) == "2026-11-23T213006Z.tar.gz"
    assert archive.is_archive_name(name) and not archive.is_archive_name("latest.tar.gz")
    assert archive.time_of(name) == when.replace(microsecond=0)


def test_fingerprint_depends_on_each_business_fixture_only():
    base = business_fingerprint(["auth", "checkouts"], {"auth": "a", "checkouts": "c"})
    assert base == business_fingerprint(["checkouts", "auth"], {"checkouts": "c", "auth": "a", "sessions": "x"})
    assert base != business_fingerprint(["auth", "checkouts"], {"auth": "a", "checkouts": "d"})
    assert base != business_fingerprint(["auth", "checkouts"], {"auth": "a"})


def _make(tmp_path, members):
    src = tmp_path / "src"
    src.mkdir()
    entries, manifest_members = [], {}
    for name, data in members.items():
        (src / name).write_bytes(data)
        entries.append((name, str(src / name)))
        manifest_members[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    path = tmp_path / "2026-01-01T000000Z.tar.gz"
    archive.write_archive(str(path), entries, {"members": manifest_members, "fingerprint": "f"}, 0)
    return path


MEMBERS = {"db.sql": b"SELECT 1;\n" * 1000, "auth.json": b"[]", "checkouts.json": b'[{"pk": 1}]'}


def test_roundtrip_and_plain_gnu_tar(tmp_path):
    path = _make(tmp_path, MEMBERS)
    out = tmp_path / "out"
    out.mkdir()
    manifest = archive.extract_verified(str(path), str(out))
    assert manifest["fingerprint"] == "f"
    assert (out / "db.sql").read_bytes() == MEMBERS["db.sql"]
    gnu = tmp_path / "gnu"
    gnu.mkdir()
    subprocess.run(["tar", "-xzf", str(path), "-C", str(gnu), "auth.json", "checkouts.json"], check=True)
    assert (gnu / "checkouts.json").read_bytes() == MEMBERS["checkouts.json"]
    assert not list(tmp_path.glob(".tmp-*"))


def test_truncated_archive_is_refused(tmp_path):
    path = _make(tmp_path, MEMBERS)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IntegrityError, match="damaged or truncated"):
        archive.extract_verified(str(path), str(tmp_path))


def test_flipped_byte_in_member_is_refused(tmp_path):
    path = _make(tmp_path, MEMBERS)
    raw = bytearray(gzip.decompress(path.read_bytes()))
    offset = raw.index(b"SELECT 1;")
    raw[offset] ^= 0x20
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(IntegrityError, match="member db.sql does not match its manifest checksum"):
        archive.extract_verified(str(path), str(tmp_path))


def test_missing_member_is_refused(tmp_path):
    path = _make(tmp_path, MEMBERS)
    out = tmp_path / "o"
    out.mkdir()
    subprocess.run(["tar", "-xzf", str(path), "-C", str(out)], check=True)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["members"]["extra.json"] = {"sha256": "0" * 64, "size": 1}
    (out / "manifest.json").write_text(json.dumps(manifest))
    subprocess.run(["tar", "-czf", str(path), "-C", str(out), "manifest.json", "db.sql", "auth.json", "checkouts.json"])
    with pytest.raises(IntegrityError, match="missing member"):
        archive.extract_verified(str(path), str(tmp_path / "o"))
