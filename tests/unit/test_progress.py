"""The progress line: shown only where a front door turned it on, one line rewritten in place, cleared at the end."""

import io

import pytest

from checkniner_backup import progress


@pytest.fixture
def screen():
    stream = io.StringIO()
    progress.enable(stream)
    yield stream
    progress.disable()


def test_off_unless_turned_on():
    progress.disable()
    with progress.phase("pg_dump", 100) as shown:
        shown.add(50)
    assert shown.done == 50  # counted, shown nowhere


def test_one_line_rewritten_in_place_then_cleared(screen, monkeypatch):
    monkeypatch.setattr(progress, "INTERVAL", 0)
    with progress.phase("writing the archive", 4 * 2**20) as shown:
        shown.add(2**20)
        shown.add(2**20)
    out = screen.getvalue()
    assert "\n" not in out  # never a new line: cron logs would fill with them
    frames = out.split("\r")
    assert frames[1].startswith("writing the archive: 0 B of 4.0 MB (0%)")
    assert any(f.startswith("writing the archive: 2.0 MB of 4.0 MB (50%)") for f in frames)
    assert frames[-1] == "" and frames[-2].strip() == ""  # the line is blank again when the phase ends


def test_rate_once_it_means_something(screen):
    shown = progress.Phase("reading x.tar.gz")
    shown.started -= 2
    shown.done = 4 * 2**20
    assert shown.text() == "reading x.tar.gz: 4.0 MB, 2.0 MB/s"


def test_redraws_are_throttled(screen, monkeypatch):
    monkeypatch.setattr(progress, "INTERVAL", 3600)
    with progress.phase("pg_dump") as shown:
        for _ in range(1000):
            shown.add(10)
    assert screen.getvalue().count("pg_dump:") == 1  # drawn when the phase began, not a thousand times


def test_counted_reads(screen):
    shown = progress.Phase("archive")
    handle = progress.counted(io.BytesIO(b"x" * 10), shown)
    assert handle.read(4) == b"xxxx" and handle.read() == b"x" * 6
    assert shown.done == 10
