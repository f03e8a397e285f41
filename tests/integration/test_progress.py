"""Progress for people (issue 14): one line on stderr, rewritten in place, only when stderr is a terminal and the output
is not --json. Cron's log (a file) and JSON documents never hold it."""

import json
import os
import pty
import subprocess
import sys
import uuid


def on_terminal(args, env):
    """(exit code, stdout, what the terminal on stderr showed) of the command line run with stderr on a pty."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "checkniner_backup.cli", *args], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)  # fmt: skip
    os.close(slave)
    shown = b""
    while True:
        try:
            data = os.read(master, 1 << 16)
        except OSError:  # EIO: the command ended and closed the terminal
            break
        if not data:
            break
        shown += data
    os.close(master)
    stdout = proc.stdout.read()
    return proc.wait(), stdout.decode(), shown.decode(errors="replace")


def test_a_run_and_a_restore_on_a_terminal_show_one_progress_line(pg, backup_env):
    code, _, shown = on_terminal(["run"], backup_env)
    assert code == 0, shown
    assert "\rpg_dump: " in shown and "\rwriting the archive: " in shown and " of " in shown
    assert shown.split("\r")[-1].strip() == ""  # cleared at the end: what is logged next stands on its own line
    target = f"cnb_{uuid.uuid4().hex[:12]}"
    env = {**backup_env, "CHECKNINER_RESTORE_TARGET_DATABASE_URL": pg.app_url(target)}
    try:
        code, _, shown = on_terminal(["restore", "--mode", "sql"], env)
        assert code == 0, shown
        assert "\rreading " in shown and "%)" in shown
    finally:
        pg.drop_database(target)


def test_no_progress_in_json_output_or_when_stderr_is_no_terminal(backup_env, run_cli):
    code, stdout, shown = on_terminal(["run", "--json"], backup_env)
    assert code == 0 and "\r" not in shown.replace("\r\n", "\n")  # the terminal's own line ends only
    assert json.loads(stdout)["outcome"] in ("saved", "unchanged")
    proc = run_cli("run")  # stderr to a pipe, as cron's to its log
    assert proc.returncode == 0 and "\r" not in proc.stderr and "\r" not in proc.stdout
