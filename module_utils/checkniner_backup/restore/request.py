"""What a restore is asked to do, and the rules its options obey: written once, here, for every front door.

A front door (the command line, an Ansible module) builds the request with its own Spelling, so an engine message
that names an option names it the way that user types it.
"""

from dataclasses import dataclass, field
from typing import List, Optional

from ..config import parse_apps
from ..errors import ConfigError
from ..latest import parse_at

MODES = ("sql", "fixtures")


@dataclass(frozen=True)
class Spelling:
    """How the user of one front door writes each option."""

    archive: str = "--archive"
    mode: str = "--mode"
    apps: str = "--apps"
    target: str = "--target-database-url"
    yes: str = "--yes (playbook: -e confirm=yes)"
    sql: str = "--mode sql"
    fixtures: str = "--mode fixtures"
    lock_timeout: str = "--lock-timeout"
    terminate: str = "--terminate-sessions"
    source: str = "--from"
    at: str = "--at"
    allow_unsigned: str = "--allow-unsigned"


CLI = Spelling()
MODULE = Spelling(
    archive="archive",
    mode="mode",
    apps="apps",
    target="target_database_url",
    yes="confirm=true (playbook: -e confirm=yes)",
    sql="mode=sql",
    fixtures="mode=fixtures",
    lock_timeout="lock_timeout",
    terminate="terminate_sessions=true (playbook: -e terminate_sessions=yes)",
    source="source",
    at="at",
    allow_unsigned="allow_unsigned=true (playbook: -e allow_unsigned=yes)",
)


@dataclass(frozen=True)
class RestoreRequest:
    """archive: latest | NAME | PATH. mode: sql (exact, whole database) or fixtures (portable; apps: a subset, default
    every fixture in the archive). target_url: another database (default CHECKNINER_RESTORE_TARGET_DATABASE_URL, else
    the live DATABASE_URL, which needs yes and first saves a safety archive). check: compute `changed`, no side
    effect. workdir: where the private temp directory goes (default: the system's). SQL mode over an existing
    database: lock_timeout, the seconds to wait for other sessions that hold its tables (then fail, naming them);
    terminate_sessions, end the other sessions of the target first. at: TIME (latest.parse_at), the newest archive
    saved at or before it instead of the newest (archive stays latest). allow_unsigned: accept an archive that is
    unsigned or signed by a key not trusted, with a warning (signing.check)."""

    archive: str = "latest"
    mode: str = "sql"
    apps: Optional[List[str]] = None
    target_url: Optional[str] = None
    yes: bool = False
    check: bool = False
    workdir: Optional[str] = None
    lock_timeout: float = 30.0
    terminate_sessions: bool = False
    at: Optional[str] = None
    allow_unsigned: bool = False
    spelling: Spelling = field(default=CLI, compare=False)

    def validate(self):
        """The option rules. Returns the selected app labels (None: every fixture). Raises ConfigError."""
        say = self.spelling
        if self.mode not in MODES:
            raise ConfigError(
                f"unknown restore mode {self.mode!r}: use sql (exact) or fixtures (portable, or {say.apps})"
            )
        if not self.lock_timeout or self.lock_timeout <= 0:
            raise ConfigError(f"{say.lock_timeout} must be a number of seconds above 0, e.g. 30")
        _check_at(self.archive, self.at, say)
        selected = _parse_apps(self.apps, say.apps)
        if selected and self.mode == "sql":
            raise ConfigError(f"{say.apps} needs {say.fixtures}: SQL mode restores the whole database")
        return selected

    def before(self):
        """The time bound `at` gives (an aware UTC datetime), or None: the newest archive."""
        return _before(self.at, self.spelling)


SOURCES = ("all", "local", "s3")  # the drill's locations: verify --from, the module's source option


@dataclass(frozen=True)
class VerifyRequest:
    """The restore drill of `archive` (latest | NAME | PATH) in a scratch database, from each location `source`
    names: all (default: the local directory and every destination), local, s3 (every destination), or one
    destination's name (CHECKNINER_BACKUP_DESTINATIONS). at: TIME, each location's newest archive saved at or before
    it. allow_unsigned: drill an archive that is unsigned or signed by a key not trusted, with a warning."""

    archive: str = "latest"
    source: str = "all"
    workdir: Optional[str] = None
    at: Optional[str] = None
    allow_unsigned: bool = False
    spelling: Spelling = field(default=CLI, compare=False)

    def validate(self):
        """The option rules. Raises ConfigError."""
        if self.source not in SOURCES and not str(self.source).isidentifier():
            raise ConfigError(
                f"unknown {self.spelling.source} {self.source!r}: use all, local, s3 or a destination's name"
            )
        _check_at(self.archive, self.at, self.spelling)

    def before(self):
        """The time bound `at` gives (an aware UTC datetime), or None: the newest archive."""
        return _before(self.at, self.spelling)


def _check_at(archive, at, say):
    """TIME parses, and names the archive alone: with a name or a path there would be two answers."""
    if at in (None, ""):
        return
    if (archive or "latest").strip() != "latest":
        raise ConfigError(
            f"{say.at} and {say.archive} {archive} each name the archive: give one ({say.at} goes with the default "
            f"{say.archive} latest)"
        )
    parse_at(at, say.at)


def _before(at, say):
    return None if at in (None, "") else parse_at(at, say.at)


def _parse_apps(apps, what):
    if apps is None or apps == "" or apps == []:
        return None
    if not isinstance(apps, str):
        apps = ",".join(apps)
    return parse_apps(apps, what=what) or None
