"""The preflight before any dump that ends in an archive (a run's and a restore's safety archive): one function, so
a key that cannot sign fails before pg_dump runs, in both."""

import pytest

from checkniner_backup import archive_writer, config
from checkniner_backup.errors import ConfigError
from checkniner_backup.pg import Preflight

from .conftest import INFO


def test_a_signing_key_that_cannot_be_read_fails_the_preflight(tmp_path, monkeypatch):
    monkeypatch.setattr(archive_writer.pg, "preflight", lambda database, env: Preflight(INFO, "15.8", "1"))
    env = {"CHECKNINER_BACKUP_DIR": str(tmp_path), "CHECKNINER_SIGNING_KEY": str(tmp_path / "missing.key")}
    with pytest.raises(ConfigError, match="CHECKNINER_SIGNING_KEY"):
        archive_writer.preflight(config.load(env, require_database=False))
    del env["CHECKNINER_SIGNING_KEY"]
    assert archive_writer.preflight(config.load(env, require_database=False)).pg_dump_version == "15.8"
