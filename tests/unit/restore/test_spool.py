"""Spool: the archive read once for the SQL replay, the SQL member handed over only once it matched the signed
manifest, every other member checked before the replay may commit; twice where the member does not fit."""

import hashlib
import os

import pytest

from checkniner_backup import archive
from checkniner_backup.errors import IntegrityError
from checkniner_backup.manifest import Manifest
from checkniner_backup.restore import spool
from checkniner_backup.restore.fetch import Fetched
from checkniner_backup.restore.send import SQL_DONE
from checkniner_backup.restore.sqlstream import SqlStream

SQL = b"SET standard_conforming_strings = on;\n" + b'COPY "public"."t" ("a") FROM stdin;\n' + b"1\t\\N\n" * 300_000
SQL += b"\\.\nSELECT 1;\n"
MEMBERS = {"db.sql": SQL, "auth.json": b"[]", "checkouts.json": b'[{"pk": 1}]' * 50_000}


def _fetched(tmp_path, members=MEMBERS, listed=None):
    """An archive of `members` whose manifest lists `listed` (default: the members themselves)."""
    src = tmp_path / "src"
    src.mkdir()
    for name, data in members.items():
        (src / name).write_bytes(data)
    listed = listed or members
    doc = {
        "database": "db",
        "members": {n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for n, d in listed.items()},
    }
    path = tmp_path / "2026-01-01T000000Z.tar.gz"
    archive.write_archive(str(path), [(n, str(src / n)) for n in members], doc, 0)
    return Fetched(path.name, "path", str(path), None, Manifest(doc), "", None)


@pytest.fixture
def passes(monkeypatch):
    """How many times the archive is read (each a decompression), and a work directory with room to spool."""
    reads = []
    real = archive.extract_verified

    def counted(*args, **kwargs):
        reads.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(archive, "extract_verified", counted)
    monkeypatch.setattr(spool, "SPOOL_HEADROOM", 0)  # the machine's free space decides nothing below
    return reads


def _events(fetched, workdir, finish=True):
    """The events sql_events yields, read as the replay does; wait_done() as the replay does before COMMIT."""
    stream = SqlStream(fetched.sql_name)
    events = []
    with spool.sql_events(fetched, stream, workdir) as reader:
        while not events or events[-1][0] != SQL_DONE:
            events.append(reader.get())
        if finish:
            reader.wait_done()
    return events, stream


def _direct(sql):
    stream = SqlStream("db.sql")
    return [*stream.feed(sql), *stream.close(), (SQL_DONE, None, None)]


def _joined(events):
    """Events with COPY data joined: block boundaries differ between the paths, the bytes may not."""
    out = []
    for kind, payload, line in events:
        if out and kind == out[-1][0] == "data":
            out[-1] = (kind, out[-1][1] + payload, line)
        else:
            out.append((kind, payload, line))
    return out


def test_spooled_the_archive_is_read_once_and_the_spool_removed(tmp_path, passes):
    fetched = _fetched(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    events, stream = _events(fetched, str(work))
    assert _joined(events) == _joined(_direct(SQL)) and stream.counts == {"t": 300_000}
    assert len(passes) == 1  # one decompression: the SQL member read back from the spool
    assert os.listdir(work) == []


def test_without_room_the_archive_is_read_twice_with_the_same_events(tmp_path, passes, monkeypatch):
    fetched = _fetched(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    free = len(SQL) * 2 - 1  # the member's size again must stay free: one byte short
    monkeypatch.setattr(spool.shutil, "disk_usage", lambda _path: type("U", (), {"free": free})())
    events, _stream = _events(fetched, str(work))
    assert _joined(events) == _joined(_direct(SQL))
    assert len(passes) == 2 and os.listdir(work) == []


def test_a_disk_that_fills_while_spooling_reads_the_archive_again(tmp_path, passes, monkeypatch):
    fetched = _fetched(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    placeholder = work / "spool"
    placeholder.write_bytes(b"")
    monkeypatch.setattr(spool, "_spool_file", lambda _w: (open("/dev/full", "wb"), str(placeholder)))  # ENOSPC
    events, _stream = _events(fetched, str(work))
    assert _joined(events) == _joined(_direct(SQL))
    assert len(passes) == 2 and os.listdir(work) == []


@pytest.mark.parametrize("room", [True, False])
def test_a_tampered_sql_member_yields_nothing(tmp_path, passes, monkeypatch, room):
    """Same size, one byte changed, the manifest the genuine one's: refused before a first event."""
    tampered = dict(MEMBERS, **{"db.sql": SQL.replace(b"SELECT 1;", b"SELECT 2;")})
    fetched = _fetched(tmp_path, tampered, listed=MEMBERS)
    work = tmp_path / "work"
    work.mkdir()
    if not room:
        monkeypatch.setattr(spool, "spool_fits", lambda _w, _s: False)
    stream = SqlStream(fetched.sql_name)
    with pytest.raises(IntegrityError, match="member db.sql does not match its manifest checksum"):
        with spool.sql_events(fetched, stream, str(work)):
            pytest.fail("the SQL was handed over before it matched its manifest")
    assert stream.lines == 0 and os.listdir(work) == []


@pytest.mark.parametrize("room", [True, False])
def test_a_tampered_fixture_fails_before_commit(tmp_path, passes, monkeypatch, room):
    """The SQL member is genuine and is replayed; a fixture after it is not: wait_done(), before COMMIT, raises."""
    bad = bytearray(MEMBERS["checkouts.json"])
    bad[len(bad) // 2] ^= 1
    fetched = _fetched(tmp_path, dict(MEMBERS, **{"checkouts.json": bytes(bad)}), listed=MEMBERS)
    work = tmp_path / "work"
    work.mkdir()
    if not room:
        monkeypatch.setattr(spool, "spool_fits", lambda _w, _s: False)
    with pytest.raises(IntegrityError, match="member checkouts.json does not match its manifest checksum"):
        _events(fetched, str(work))
    assert os.listdir(work) == []


def test_a_replay_that_stops_early_stops_the_check_and_removes_the_spool(tmp_path, passes):
    fetched = _fetched(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(RuntimeError, match="the server went away"):
        with spool.sql_events(fetched, SqlStream(fetched.sql_name), str(work)) as reader:
            reader.get()
            raise RuntimeError("the server went away")
    assert os.listdir(work) == []


@pytest.mark.parametrize("size, free, fits", [
    (100, 100 + (1 << 30), True),  # small: the headroom stays free
    (100, 99 + (1 << 30), False),
    (3 << 30, 6 << 30, True),  # large: as much again stays free
    (3 << 30, (6 << 30) - 1, False),
])  # fmt: skip
def test_a_spool_leaves_room_for_what_the_replay_writes(monkeypatch, tmp_path, size, free, fits):
    monkeypatch.setattr(spool.shutil, "disk_usage", lambda _path: type("U", (), {"free": free})())
    assert spool.spool_fits(str(tmp_path), size) is fits
    assert spool.spool_fits(None, 1) is False  # no work directory: never
