import datetime as dt
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile

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


def test_names_from_the_future_are_flagged_and_never_the_base_of_the_next_name():
    now = dt.datetime(2026, 11, 23, 21, 30, 5, tzinfo=UTC)
    within = "2026-11-23T223005Z.tar.gz"  # now + the tolerance: a clock a little ahead is not "the future"
    assert not archive.is_future(within, now)
    assert archive.is_future("2026-11-23T223006Z.tar.gz", now)
    assert archive.is_future("2999-01-01T000000Z-pre-restore.tar.gz.gpg", now)
    assert archive.is_future("9999-99-99T999999Z.tar.gz", now)  # compared as text: an impossible date decides too
    assert not archive.is_future("latest.tar.gz", now) and not archive.is_future("2020-01-01T000000Z.tar.gz", now)
    assert archive.name_for(now, ["2999-01-01T000000Z.tar.gz", "2026-11-23T213005Z.tar.gz"]) == (
        "2026-11-23T213006Z.tar.gz"
    )
    assert archive.name_for(now, [within]) == "2026-11-23T223006Z.tar.gz"


def test_fingerprint_depends_on_each_business_fixture_only():
    base = business_fingerprint(["auth", "checkouts"], {"auth": "a", "checkouts": "c"})
    assert base == business_fingerprint(["checkouts", "auth"], {"checkouts": "c", "auth": "a", "sessions": "x"})
    assert base != business_fingerprint(["auth", "checkouts"], {"auth": "a", "checkouts": "d"})
    assert base != business_fingerprint(["auth", "checkouts"], {"auth": "a"})


@pytest.fixture(autouse=True, params=["isal", "zlib"])
def inflater(request, monkeypatch):
    """Every test reads with both inflaters: ISA-L (python-isal) when installed, and zlib, its fallback."""
    if request.param == "zlib":
        monkeypatch.setattr(archive, "_igzip", None)
    elif archive._igzip is None:
        pytest.fail("python-isal is not installed: it is a dependency of the engine (pyproject.toml)")
    return request.param


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


def test_corrupt_compressed_stream_is_refused_with_one_message(tmp_path):
    """A byte flipped anywhere: an inflate error, a bad CRC or wrong bytes are each one IntegrityError, never a
    traceback (an inflate error of either inflater escaped before). What is not refused extracted intact (a flip in
    the gzip header's mtime, or in the tar padding after the last member, which nothing reads)."""
    members = {"db.sql": bytes(range(256)) * 200 + b"COPY t (a) FROM stdin;\n" * 500, "auth.json": b"[]"}
    path = _make(tmp_path, members)
    data = path.read_bytes()
    refused = 0
    for offset in range(0, len(data), 3):
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        path.write_bytes(bytes(damaged))
        out = tmp_path / f"out-{offset}"
        out.mkdir()
        try:
            archive.extract_verified(str(path), str(out))
        except IntegrityError as exc:
            assert str(exc).startswith(path.name) and "\n" not in str(exc), exc  # one line that names the archive
            refused += 1
            continue
        assert {p.name: p.read_bytes() for p in out.iterdir()} == members, offset
    assert refused > len(data) // 3 * 0.9


def test_upto_stops_after_the_named_members_and_trusts_their_bytes_to_the_caller(tmp_path):
    """upto is for an archive whose whole sha256 matched its record: the members named are checked by size, not hashed
    again, and nothing after them is read (a member missing after them goes unnoticed: the record vouches for it)."""
    path = _make(tmp_path, MEMBERS)
    out = tmp_path / "o"
    out.mkdir()
    subprocess.run(["tar", "-xzf", str(path), "-C", str(out)], check=True)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["members"]["db.sql"]["sha256"] = "0" * 64
    manifest["members"]["zz.json"] = {"sha256": "0" * 64, "size": 1}
    (out / "manifest.json").write_text(json.dumps(manifest))
    subprocess.run(["tar", "-czf", str(path), "-C", str(out), "manifest.json", "db.sql", "auth.json"], check=True)
    seen = []
    archive.extract_verified(str(path), None, {"db.sql": seen.append}, upto={"db.sql"})
    assert b"".join(seen) == MEMBERS["db.sql"]
    with pytest.raises(IntegrityError, match="member db.sql does not match its manifest checksum"):
        archive.extract_verified(str(path), None)


def test_checked_names_each_member_once_it_matched_before_the_next_is_read(tmp_path):
    path = _make(tmp_path, MEMBERS)
    seen = []
    sinks = {name: (lambda block, name=name: seen.append(("block", name))) for name in MEMBERS}
    archive.extract_verified(str(path), None, sinks, checked=lambda name: seen.append(("checked", name)))
    order = [event for index, event in enumerate(seen) if index == 0 or event != seen[index - 1]]
    assert order == [(kind, name) for name in MEMBERS for kind in ("block", "checked")]


def test_a_member_named_twice_is_refused_even_when_both_copies_match(tmp_path):
    """A second copy would follow bytes already handed over as checked (checked: the replay uses them at once)."""
    listed = {"db.sql": {"sha256": hashlib.sha256(b"SELECT 1;\n").hexdigest(), "size": 10}}
    manifest = json.dumps({"members": listed}).encode()
    path = _tar(tmp_path / "2026-01-01T000000Z.tar.gz",
                [("manifest.json", manifest), ("db.sql", b"SELECT 1;\n"), ("db.sql", b"SELECT 1;\n")])  # fmt: skip
    checked = []
    with pytest.raises(IntegrityError, match="holds db.sql twice"):
        archive.extract_verified(str(path), None, {"db.sql": lambda _b: None}, checked=checked.append)
    assert checked == ["db.sql"]


# -- the signature member ---------------------------------------------------------------------------------------


def _signed(tmp_path, sign=lambda data: b"SIG:" + hashlib.sha256(data).hexdigest().encode()):
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    entries, listed = [], {}
    for name, data in MEMBERS.items():
        (src / name).write_bytes(data)
        entries.append((name, str(src / name)))
        listed[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    path = tmp_path / "2026-01-01T000000Z.tar.gz"
    archive.write_archive(str(path), entries, {"members": listed, "fingerprint": "f"}, 0, sign=sign)
    return path


SYMLINK = object()


def _tar(path, members):
    """A hand-made archive: members [(name, bytes, or SYMLINK)] in this order (hostile layouts)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is SYMLINK:
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def test_signature_is_the_second_member_over_the_exact_manifest_bytes(tmp_path):
    path = _signed(tmp_path)
    listing = subprocess.run(["tar", "-tzf", str(path)], capture_output=True, text=True, check=True).stdout.split()
    assert listing == ["manifest.json", "manifest.sig", "db.sql", "auth.json", "checkouts.json"]
    head = archive.read_head(str(path))
    assert head.signature == b"SIG:" + hashlib.sha256(head.manifest_bytes).hexdigest().encode()
    assert json.loads(head.manifest_bytes) == head.manifest and "manifest.sig" not in head.manifest["members"]
    out = tmp_path / "out"
    out.mkdir()
    assert archive.extract_verified(str(path), str(out), manifest_sha256=head.manifest_sha256) == head.manifest
    assert sorted(p.name for p in out.iterdir()) == ["auth.json", "checkouts.json", "db.sql"]
    subprocess.run(["tar", "-xzf", str(path), "-C", str(out), "auth.json"], check=True)  # the seed's commands
    unsigned = tmp_path / "unsigned"
    unsigned.mkdir()
    assert archive.read_head(str(_make(unsigned, MEMBERS))).signature is None


def test_a_manifest_replaced_after_its_check_is_refused(tmp_path):
    path = _signed(tmp_path)
    with pytest.raises(IntegrityError) as exc:
        archive.extract_verified(str(path), None, manifest_sha256="0" * 64)
    assert str(exc.value) == f"{path.name} changed since its manifest and signature were checked: refused"


@pytest.mark.parametrize(
    "layout, expected",
    [
        ("huge signature", "its manifest.sig is not a regular file of at most 4096 bytes"),
        ("signature symlink", "its manifest.sig is not a regular file of at most 4096 bytes"),
        ("two signatures", "holds a second manifest.sig: not a checkniner-backup archive"),
        ("signature first", "has no manifest.json first: not a checkniner-backup archive"),
        ("manifest not an object", "has a manifest.json that is not a checkniner-backup manifest"),
    ],
)
def test_hostile_signature_members_fail_with_one_line(tmp_path, layout, expected):
    manifest = json.dumps({"members": {"db.sql": {"sha256": hashlib.sha256(b"x").hexdigest(), "size": 1}}}).encode()
    members = {
        "huge signature": [("manifest.json", manifest), ("manifest.sig", b"0" * 5000), ("db.sql", b"x")],
        "signature symlink": [("manifest.json", manifest), ("manifest.sig", SYMLINK)],
        "two signatures": [("manifest.json", manifest), ("manifest.sig", b"a"), ("manifest.sig", b"b")],
        "signature first": [("manifest.sig", b"a"), ("manifest.json", manifest)],
        "manifest not an object": [("manifest.json", b"[1]"), ("db.sql", b"x")],
    }[layout]
    path = _tar(tmp_path / "2026-01-01T000000Z.tar.gz", members)
    for read in (archive.read_head, lambda p: archive.extract_verified(p, None)):
        with pytest.raises(IntegrityError) as exc:
            read(str(path))
        assert str(exc.value).startswith(path.name) and expected in str(exc.value) and "\n" not in str(exc.value)


def test_a_second_signature_further_down_is_refused_while_streaming(tmp_path):
    manifest = json.dumps({"members": {"db.sql": {"sha256": hashlib.sha256(b"x").hexdigest(), "size": 1}}}).encode()
    path = _tar(tmp_path / "a.tar.gz", [("manifest.json", manifest), ("manifest.sig", b"a"), ("db.sql", b"x"),
                                        ("manifest.sig", b"b")])  # fmt: skip
    assert archive.read_head(str(path)).signature == b"a"  # the head alone looks fine
    with pytest.raises(IntegrityError) as exc:
        archive.extract_verified(str(path), None)
    assert str(exc.value) == "a.tar.gz holds a second manifest.sig: not a checkniner-backup archive"


def test_an_impossible_date_in_the_directory_names_nothing():
    """A name written by hand (2026-13-45, or hour 25) must not stop the next run: it is skipped for naming."""
    when = dt.datetime(2026, 11, 29, 12, 0, 0, tzinfo=dt.timezone.utc)
    odd = ["2026-13-45T000000Z.tar.gz", "2026-11-29T256099Z.tar.gz", "2026-11-29T120000Z.tar.gz"]
    assert archive.time_of(odd[0]) is None and archive.time_of(odd[1]) is None
    assert archive.name_for(when, odd) == "2026-11-29T120001Z.tar.gz"
    assert archive.name_for(when, odd[:2]) == "2026-11-29T120000Z.tar.gz"


def test_a_manifest_member_entry_that_is_not_an_object_is_refused_in_one_line(tmp_path):
    """Hostile input: `"auth.json": "junk"` in the manifest was an AttributeError (a traceback), not a refusal."""
    import io
    import json
    import tarfile

    path = tmp_path / "2026-01-01T000000Z.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        data = json.dumps({"format": "checkniner-backup", "database": "db", "members": {"auth.json": "junk"}}).encode()
        info = tarfile.TarInfo(archive.MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(IntegrityError, match="has a manifest.json that is not a checkniner-backup manifest"):
        archive.extract_verified(str(path), None)


def _retar(tmp_path, path, names, *tar_options):
    """The archive's members re-packed by GNU tar with `tar_options` (the manifest first, as ours are)."""
    out = tmp_path / "retar"
    out.mkdir(exist_ok=True)
    subprocess.run(["tar", "-xzf", str(path), "-C", str(out)], check=True)
    return out, lambda: subprocess.run(
        ["tar", *tar_options, "-czf", str(path), "-C", str(out), "manifest.json", *names], check=True
    )


def test_a_sparse_member_is_refused_before_a_byte_of_it_is_read(tmp_path):
    path = _make(tmp_path, MEMBERS)
    out, pack = _retar(tmp_path, path, list(MEMBERS), "--sparse", "--format=gnu")
    os.truncate(out / "db.sql", 1 << 30)  # a gigabyte of zeros, none of it stored
    pack()
    assert path.stat().st_size < 1 << 20
    seen = []
    with pytest.raises(IntegrityError, match="member db.sql is a sparse file"):
        archive.extract_verified(str(path), None, {"db.sql": seen.append})
    assert seen == []


def test_a_member_whose_size_is_not_the_manifests_is_refused_before_it_is_read(tmp_path):
    path = _make(tmp_path, MEMBERS)
    out, pack = _retar(tmp_path, path, list(MEMBERS))
    (out / "db.sql").write_bytes(MEMBERS["db.sql"] + b"SELECT 2;\n")
    pack()
    seen = []
    with pytest.raises(IntegrityError, match=r"member db.sql is 10010 bytes, its manifest says 10000"):
        archive.extract_verified(str(path), None, {"db.sql": seen.append})
    assert seen == []


def test_a_member_that_does_not_fit_is_refused_before_it_is_written(tmp_path, monkeypatch):
    path = _make(tmp_path, MEMBERS)
    out = tmp_path / "extracted"
    out.mkdir()
    monkeypatch.setattr(archive.shutil, "disk_usage", lambda _p: type("U", (), {"free": 100})())
    with pytest.raises(IntegrityError, match=r"member db.sql \(10000 bytes\) does not fit"):
        archive.extract_verified(str(path), str(out))
    assert not (out / "db.sql").exists()
