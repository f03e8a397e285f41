"""Run a function in the background until stopped, for the controller-side helpers of the scenarios
(ps_sampler.py, heartbeat_receiver.py): one process per OUT file, its pid in OUT.pid.

    background.start(out, work)   # forks: the child detaches and runs work(); the parent returns at once
    background.stop(out)          # ends the child started for OUT, if any
"""

import os
import signal


def start(out, work):
    stop(out)  # one left by an interrupted scenario would still be running (and hold its port)
    if os.fork():
        return
    os.setsid()
    with open(out + ".pid", "w") as handle:
        handle.write(str(os.getpid()))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # so that Ansible's command task does not wait on our pipes
        os.dup2(devnull, fd)
    work()


def stop(out):
    try:
        with open(out + ".pid") as handle:
            os.kill(int(handle.read()), signal.SIGTERM)
    except (OSError, ValueError):
        pass
