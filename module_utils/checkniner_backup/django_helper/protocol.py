"""The helper's protocol, named once: the engine (django_client.py and its callers) imports these names, the helper
speaks them. Django-free and importing nothing else of the package: the engine imports this file and no other.

Commands are argv[1]; parameters travel in the environment, never in argv (ENV_DB holds the connection as JSON,
password included). The helper reports one JSON document a line on stdout, keyed by Key; the engine may answer
CONTINUE or STOP on stdin after the business apps are written (no need to dump the rest when the business data did
not change).
"""

import hashlib
from typing import Final

# Commands (argv[1]):
DUMP, LOAD, MIGRATE_CHECK, MIGRATE = "dump", "load", "migrate-check", "migrate"
# Parameters (environment):
ENV_DB = "CHECKNINER_HELPER_DB"  # the connection as JSON, password included
ENV_APPS = "CHECKNINER_HELPER_APPS"  # the business app labels, comma-separated
ENV_ONLY_BUSINESS = "CHECKNINER_HELPER_ONLY_BUSINESS"  # "1": dump the business apps only
ENV_SNAPSHOT = "CHECKNINER_HELPER_SNAPSHOT"  # the exported snapshot to read from
ENV_HANDSHAKE = "CHECKNINER_HELPER_HANDSHAKE"  # "1": ask CONTINUE or STOP on stdin after the business apps
ENV_EXPECT = "CHECKNINER_HELPER_EXPECT"  # load: {label: sha256 or null} the loaded apps must dump to
ENV_CHECKDIR = "CHECKNINER_HELPER_CHECKDIR"  # load: where those proof dumps go
ENV_DRY_RUN = "CHECKNINER_HELPER_DRY_RUN"  # load: "1": compare only, load nothing
ENV_FORMAT = "CHECKNINER_HELPER_FORMAT"  # dump, load: the fixture format to write (an older archive's, for its proof)
# Answers on stdin, and the phases reported on stdout ({Key.PHASE: ...}):
CONTINUE, STOP = "continue", "stop"
BUSINESS_DONE, DONE, STOPPED = "business-done", "done", "stopped"
UNCHANGED, WOULD_LOAD, MISMATCH, LOADED, MIGRATED = "unchanged", "would-load", "mismatch", "loaded", "migrated"
# The paths a model's objects are written by (Key.PATH): PostgreSQL's COPY, or Django's serializer object by object
FAST, SERIALIZER = "fast", "serializer"


class Key:
    """The keys of the documents on stdout. Three kinds of document: an error ({ERROR, CONFIG}), one a fixture
    dumped ({APP, BUSINESS, TABLES, OBJECTS} and, when it has rows, {SHA256, SIZE, MODELS}), and a phase ({PHASE}
    and what it reports: MIGRATIONS after a dump, APPS and FIXTURES after a load, MISSING after migrate-check)."""

    ERROR: Final = "error"  # one line: the helper stopped
    CONFIG: Final = "config"  # true: the user's configuration is the cause (the engine raises ConfigError)
    APP: Final = "app"  # the app label of the fixture just written
    BUSINESS: Final = "business"  # whether it is one of ENV_APPS
    TABLES: Final = "tables"  # the tables behind the fixture
    OBJECTS: Final = "objects"  # how many objects it holds (0: no file)
    SHA256: Final = "sha256"  # file_sha256 of the fixture
    SIZE: Final = "size"  # its size in bytes
    MODELS: Final = "models"  # {model: {PATH: FAST or SERIALIZER, REASON: why the fast path declined it}}
    PATH: Final = "path"  # which path wrote the model's objects
    REASON: Final = "reason"  # only for SERIALIZER: one line, naming the field or value that sent it there
    PHASE: Final = "phase"  # one of the phases above
    MIGRATIONS: Final = "migrations"  # {app: its last applied migration}
    APPS: Final = "apps"  # {label: sha256 or None} of the business apps dumped after (or instead of) a load
    FIXTURES: Final = "fixtures"  # the fixture file names loaded
    MISSING: Final = "missing"  # the migrations the database misses


# The fixtures' bytes, versioned: the engine records it in every manifest (fingerprint.FIXTURE_FORMAT is this) and
# asks for an archive's own format to prove a restore of it. 1: natural-key models in pk order, times cut to the
# millisecond; 2: natural-key models in natural-key order; 3: times at full precision, one object a line, written by
# PostgreSQL itself where it gives Django's bytes (the fast path).
FIXTURE_FORMAT = 3
FIXTURE_FORMATS = (1, 2, 3)


def file_sha256(path, chunk=1 << 20):
    """The sha256 of a file, read a chunk at a time: a fixture's (Key.SHA256), and the engine's for every other
    file (fingerprint.file_sha256 is this one): both sides mean the same digest."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            sha.update(block)
    return sha.hexdigest()
