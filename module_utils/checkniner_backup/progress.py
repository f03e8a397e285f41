"""One progress line for people: the phase, bytes done of the total, the rate, rewritten in place on stderr.

Off unless a front door turns it on: the command line does when stderr is a terminal and the output is not --json
(cli.py). Cron logs, Ansible modules and JSON documents never see it. The engine reports where its bytes stream
(pg_dump, the archive written, the archive read and replayed); what is shown, and whether, is decided here.
"""

import threading
import time

from .units import human_size as human

INTERVAL = 0.25  # seconds between two redraws


class _Line:
    def __init__(self, stream):
        self.stream = stream
        self.width = 0
        self.lock = threading.Lock()  # pg_dump reports from its own thread

    def draw(self, text):
        with self.lock:
            pad = " " * max(0, self.width - len(text))
            self.stream.write("\r" + text + pad)
            self.stream.flush()
            self.width = len(text)

    def clear(self):
        if self.width:
            self.draw("")
            with self.lock:
                self.stream.write("\r")
                self.stream.flush()
                self.width = 0


_line = None


def enable(stream):
    """Show progress on stream (a terminal): the command line's choice."""
    global _line
    _line = _Line(stream)


def disable():
    global _line
    if _line is not None:
        _line.clear()
    _line = None


class Phase:
    """A phase of a command, its bytes counted by add(); a context manager that clears the line when it ends."""

    def __init__(self, name, total=None):
        self.name = name
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self._drawn = 0.0

    def __enter__(self):
        self._draw()
        return self

    def __exit__(self, *exc_info):
        if _line is not None:
            _line.clear()
        return False

    def expect(self, total):
        """The total, once known (an archive's, from its manifest)."""
        self.total = total
        self._draw()

    def add(self, count):
        self.done += count
        if _line is not None and time.monotonic() - self._drawn >= INTERVAL:
            self._draw()

    def text(self, now=None):
        elapsed = (now or time.monotonic()) - self.started
        parts = [human(self.done)]
        if self.total:
            parts[0] += f" of {human(self.total)} ({min(100, self.done * 100 // self.total)}%)"
        if elapsed >= 0.5 and self.done:
            parts.append(f"{human(self.done / elapsed)}/s")
        return f"{self.name}: {', '.join(parts)}"

    def _draw(self):
        if _line is not None:
            self._drawn = time.monotonic()
            _line.draw(self.text(self._drawn))


def phase(name, total=None):
    return Phase(name, total)


def counted(handle, phase_):
    """A file opened for reading whose reads phase_ counts (tarfile copies a member through it)."""
    return _Counted(handle, phase_)


class _Counted:
    def __init__(self, handle, phase_):
        self.handle = handle
        self.phase = phase_

    def read(self, size=-1):
        data = self.handle.read(size)
        self.phase.add(len(data))
        return data
