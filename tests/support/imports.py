"""What a command line imports: the start-up cost a five-minute schedule pays on every run (boto3, Apprise ...)."""

from __future__ import annotations

import subprocess
import sys


def imported(args, env, cwd=None, timeout=300):
    """Run `checkniner-backup ARGS` in a fresh interpreter under -X importtime: (the process, the top-level modules it
    imported)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "checkniner_backup.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    names = [line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")]
    return proc, {name.split(".")[0] for name in names}
