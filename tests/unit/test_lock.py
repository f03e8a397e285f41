"""The run lock: one holder at a time, a bounded wait, and one clear line when it stays held."""

import threading
import time

import pytest

from checkniner_backup import lock
from checkniner_backup.errors import BackupError, Busy


def test_a_second_holder_is_refused_at_once_without_waiting(tmp_path):
    with lock.run_lock(str(tmp_path)):
        started = time.monotonic()
        with pytest.raises(Busy) as exc, lock.run_lock(str(tmp_path), nothing_done="nothing pruned"):
            pass
        assert time.monotonic() - started < 0.5
    assert isinstance(exc.value, BackupError) and exc.value.exit_code == 1  # an engine error, one line
    assert str(exc.value) == (f"another checkniner-backup run held the lock on {tmp_path}: nothing pruned; try again")


def test_waits_for_the_holder_then_takes_the_lock(tmp_path):
    held = threading.Event()
    release = threading.Event()

    def holder():
        with lock.run_lock(str(tmp_path)):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    threading.Timer(0.3, release.set).start()
    with lock.run_lock(str(tmp_path), wait=5):  # taken once the holder let go
        assert (tmp_path / lock.LOCK).read_text().strip().isdigit()
    thread.join()


def test_a_bounded_wait_names_how_long_it_waited(tmp_path):
    with lock.run_lock(str(tmp_path)):
        with pytest.raises(Busy, match=r"held the lock on .* for 1s: nothing done; try again"):
            with lock.run_lock(str(tmp_path), wait=1.0):
                pass


def test_the_lock_is_released_when_the_holder_fails(tmp_path):
    with pytest.raises(RuntimeError), lock.run_lock(str(tmp_path)):
        raise RuntimeError("boom")
    with lock.run_lock(str(tmp_path)):
        pass
