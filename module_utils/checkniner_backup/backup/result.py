"""What one run did: the typed result of `run`, and the one log line it leaves behind."""

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

from ..errors import describe
from ..manifest import serializer_models
from ..units import human_size


@dataclass
class RunResult:
    outcome: str  # saved | unchanged | busy | failed | would save (dry run)
    reason: str = ""
    name: Optional[str] = None
    size: int = 0
    fingerprint: Optional[str] = None
    duration: float = 0.0
    uploaded: List[str] = field(default_factory=list)
    pending: int = 0
    error: Optional[str] = None
    exit_code: int = 0
    warnings: List[str] = field(default_factory=list)  # lines for the user after the run's line (state set aside...)
    traceback: Optional[str] = None  # only for a bug: an exception the engine did not expect
    # set when the host has no signing key: its archives are refused where they are restored, so every line says so
    unsigned: Optional[str] = None
    upload_failed: bool = False  # a destination failed this run (the metrics count it, whatever else failed)
    # when the run dumped fixtures: {model: {path: fast | serializer, reason}} (manifest.model_paths)
    models: Dict[str, dict] = field(default_factory=dict)

    @classmethod
    def failed(cls, exc, duration=0.0):
        """Any exception inside a run is a failed run, reported like every other failure (state, metrics, /fail)."""
        error, exit_code, trace = describe(exc)
        return cls("failed", error=error, exit_code=exit_code, duration=duration, traceback=trace)

    def stores_failed(self, exc):
        """A destination failed after the snapshot phase: a saved archive stays "saved" (it waits in the outbox), an
        unchanged run becomes a failure; the first failure's line is the one kept."""
        self.upload_failed = True
        if self.outcome == "failed":
            return
        self.error, self.exit_code, self.traceback = describe(exc)  # 2 for missing credentials: configuration
        if self.outcome != "saved":
            self.outcome = "failed"

    def line(self):
        """The one log line a run leaves behind."""
        took = f"{self.duration:.2f}s"
        if self.outcome == "saved":
            text = f"saved {self.name} ({human_size(self.size)}, {took})"
        elif self.outcome == "unchanged":
            text = f"unchanged ({self.reason}, {took})"
        elif self.outcome == "would save":
            text = f"would save a new archive ({self.reason}, {took})"
        elif self.outcome == "busy":
            text = "busy: another run holds the lock, nothing done"
        else:
            text = f"failed: {self.error}"
        slow = self.serializer_models()
        if slow:  # each costs Python a row: named where it is paid
            names = ", ".join(sorted(slow)[:3]) + (", ..." if len(slow) > 3 else "")
            text += f"; {len(slow)} model(s) through Django's serializer: {names}"
        if self.uploaded:
            text += f"; uploaded {', '.join(self.uploaded)}"
        if self.pending:
            text += f"; {self.pending} archive(s) waiting in the outbox"
        if self.outcome == "saved" and self.error:
            text += f"; upload failed: {self.error}"
        if self.unsigned:
            text += f"; warning: {self.unsigned}"
        return text

    def serializer_models(self):
        """{model: why} of the models Django's serializer wrote in this run (the fast path declined them)."""
        return serializer_models(self.models)

    def as_dict(self):
        return asdict(self)
