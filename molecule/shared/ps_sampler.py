#!/usr/bin/env python3
"""Sample every process's command line on this machine while a scenario runs (the containers' processes are
visible from the controller: one kernel). What any user's `ps` could have shown is written, once each, to OUT.

    ps_sampler.py start OUT     # in the background, until `stop`
    ps_sampler.py stop OUT

The scenario's verify step greps OUT for its secrets: a secret on a command line (Ansible's `environment:` puts
variables on the `sh -c` line of a task) is visible to every user of the host.
"""

import os
import sys
import time

import background  # molecule/shared/background.py, beside this script

INTERVAL = 0.02  # a module's `sh -c` lives for a second or more; a quick psql a few hundredths


def sample(out):
    seen = set()
    with open(out, "a", encoding="utf-8") as handle:
        while True:
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as cmd:
                        line = cmd.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
                except OSError:
                    continue
                if line and line not in seen:
                    seen.add(line)
                    handle.write(line + "\n")
                    handle.flush()
            time.sleep(INTERVAL)


def main(command, out):
    if command == "start":
        background.start(out, lambda: sample(out))
    elif command == "stop":
        background.stop(out)


if __name__ == "__main__":
    main(*sys.argv[1:3])
