"""The restore's runtime: signals that clean up instead of killing, the private work directory, timed phases."""

import contextlib
import signal
import threading
import time

from ..errors import Interrupted
from ..scratchdir import private_workdir

_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


@contextlib.contextmanager
def _handlers(choose):
    """Install choose(current handler) for each of _SIGNALS (None: leave it), the previous ones back on exit. Only
    in the main thread: Python delivers signals there, and only there may handlers change."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {}
    for sig in _SIGNALS:
        current = signal.getsignal(sig)
        new = choose(current)
        if new is not None:
            saved[sig] = current
            signal.signal(sig, new)
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


def _raise_interrupted(signum, _frame):
    raise Interrupted(f"interrupted by {signal.Signals(signum).name}: work cleaned up, nothing left behind")


def signals_raise():
    """SIGTERM / SIGHUP / SIGINT raise Interrupted, so every finally (drop the scratch database, remove the work
    directory) runs. A signal that was ignored stays ignored."""
    return _handlers(lambda current: None if current is signal.SIG_IGN else _raise_interrupted)


def signals_held():
    """While cleaning up: a second signal must not cut the cleanup short."""
    return _handlers(lambda _current: signal.SIG_IGN)


@contextlib.contextmanager
def phase(timings, name):
    """Seconds spent in each phase (fetch, precheck, safety, replay/load, proof): where a restore's time goes."""
    started = time.monotonic()
    try:
        yield
    finally:
        timings[name] = round(time.monotonic() - started, 3) + timings.get(name, 0)


def workdir(base=None):
    """The command's private 0700 work directory (scratchdir.py), removed on every exit, a second signal held off
    while it is; what a killed command left is removed first."""
    return private_workdir(base, cleanup=signals_held)
