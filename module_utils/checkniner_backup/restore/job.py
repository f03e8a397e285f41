"""The context a restore threads through its phases instead of a clump of parameters (pgBackRest's RestoreJobData):
what was asked, where it goes, what was fetched, and the result being built."""

from dataclasses import dataclass, field
from typing import List, Optional

from ..config import Config
from ..database_url import Database
from .fetch import Fetched
from .request import RestoreRequest
from .result import RestoreResult


@dataclass
class Proving:
    """What a proof reads: the configuration (the application's Django), the fetched archive, the database restored
    into (the target, or the drill's scratch database) and the private work directory."""

    config: Config
    fetched: Fetched
    target: Database
    work: str


@dataclass
class RestoreJob(Proving):
    """One restore, from the fetch on. exists: whether the target existed before the restore (decided once, by the
    restore's body, before anything is written)."""

    request: RestoreRequest = None
    live: bool = False
    selected: Optional[List[str]] = None  # the apps asked for (fixtures mode); None: every fixture of the archive
    result: RestoreResult = field(default_factory=RestoreResult)
    exists: bool = False

    @property
    def timings(self):
        return self.result.timings
