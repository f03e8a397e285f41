"""Private work directories (issue 12): locked while in use, removed after; a dead command's removed by the next."""

import os
import subprocess
import sys
import time

from checkniner_backup import scratchdir

CHILD = """
import sys, time
sys.path.insert(0, {path!r})
from checkniner_backup import scratchdir
with scratchdir.private_workdir({base!r}) as work:
    open(work + "/clear.tar.gz", "w").write("clear data")
    print(work, flush=True)
    time.sleep(60)
"""


def child(tmp_path):
    code = CHILD.format(path=os.path.dirname(os.path.dirname(scratchdir.__file__)), base=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def test_in_use_is_kept_dead_is_removed(tmp_path):
    proc, work = child(tmp_path)
    try:
        assert os.path.basename(work).startswith(f"cnb-restore-{proc.pid}-")
        assert os.stat(work).st_mode & 0o777 == 0o700
        assert scratchdir.remove_stale(str(tmp_path)) == []  # a live command's directory is left alone
        assert os.path.exists(os.path.join(work, "clear.tar.gz"))
    finally:
        proc.kill()
        proc.wait()
    assert os.path.exists(work)  # kill -9: nothing of the command ran
    assert scratchdir.remove_stale(str(tmp_path)) == [work]
    assert os.listdir(tmp_path) == []


def test_own_directory_removed_on_exit_and_stale_ones_first(tmp_path):
    dead = tmp_path / "cnb-restore-1-abcd"
    dead.mkdir(mode=0o700)
    (dead / ".lock").touch()
    (dead / "clear.tar.gz").write_text("clear data")
    with scratchdir.private_workdir(str(tmp_path)) as work:
        assert not dead.exists()
        assert sorted(os.listdir(tmp_path)) == [os.path.basename(work)]
    assert os.listdir(tmp_path) == []


def test_unlocked_directories_of_older_versions_go_after_a_day(tmp_path):
    old, new = tmp_path / "cnb-restore-oldversion1", tmp_path / "cnb-restore-oldversion2"
    for path in (old, new):
        path.mkdir()
    day_ago = time.time() - scratchdir.UNLOCKED_GRACE_SECONDS - 60
    os.utime(old, (day_ago, day_ago))
    assert scratchdir.remove_stale(str(tmp_path)) == [str(old)]
    assert new.exists()
