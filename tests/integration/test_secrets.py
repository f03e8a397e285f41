"""No secret in a message (issue 12): passwords holding '/', '#', '?' or '@' never come back from run, restore or a
module, whether the URL then parses wrong (unencoded) or right (encoded, but the password is wrong)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from .test_modules_live import Play, host_env, options  # noqa: F401 - fixtures reused by name

PIECES = ("Kx9", "Tail", "Secret", "Of?", "Of#")


def url_with_password(url, password, encode=False):
    """`url` (postgres://user:pass@host:port/db) with its password replaced by `password`, as written."""
    parts = urlsplit(url)
    written = quote(password, safe="") if encode else password
    return f"{parts.scheme}://{parts.username}:{written}@{parts.hostname}:{parts.port}{parts.path}"


# parse wrong: the first is the issue's `cannot connect to database 'Tail-Of-Secret@...'`, then a port that is not
# one, a fragment and a query; the last parses right (encoded) and is simply the wrong password
UNENCODED = ["12345/Tail-Of-Secret", "Kx9/Tail-Of-Secret", "Kx9#Tail-Of-Secret", "12?Tail-Of-Secret"]
ENCODED = "Kx9/Tail#Of?Secret@x"


def leaked(text):
    return [piece for piece in PIECES if piece in text]


def files_text(directory):
    return "".join(p.read_text(errors="replace") for p in Path(directory).rglob("*") if p.is_file())


@pytest.mark.parametrize("password", UNENCODED)
def test_run_with_an_unencoded_password_is_a_fixed_message(run_cli, backup_env, password):
    url = url_with_password(backup_env["DATABASE_URL"], password)
    result = run_cli("run", env={"DATABASE_URL": url})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "DATABASE_URL cannot be parsed" in result.stderr and "percent-encode" in result.stderr, result.stderr
    assert not leaked(result.stdout + result.stderr), result.stderr
    backup_dir = Path(backup_env["CHECKNINER_BACKUP_DIR"])
    assert not backup_dir.exists() or not leaked(files_text(backup_dir))


def test_run_with_an_encoded_wrong_password_names_no_part_of_it(run_cli, backup_env):
    url = url_with_password(backup_env["DATABASE_URL"], ENCODED, encode=True)
    result = run_cli("run", env={"DATABASE_URL": url})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "wrong user or password" in result.stderr, result.stderr
    assert not leaked(result.stdout + result.stderr), result.stderr
    assert not leaked(files_text(backup_env["CHECKNINER_BACKUP_DIR"]))


@pytest.mark.parametrize("password, encode", [(p, False) for p in UNENCODED] + [(ENCODED, True)])
def test_restore_target_with_such_a_password_names_no_part_of_it(run_cli, backup_env, password, encode):
    assert run_cli("run").returncode == 0
    target = url_with_password(backup_env["DATABASE_URL"], password, encode).rsplit("/", 1)[0] + "/cnb_elsewhere"
    result = run_cli("restore", "--target-database-url", target, "--yes")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--target-database-url" in result.stderr or "wrong user or password" in result.stderr, result.stderr
    assert not leaked(result.stdout + result.stderr), result.stderr
    assert not leaked(files_text(backup_env["CHECKNINER_BACKUP_DIR"]))


@pytest.mark.parametrize(
    "module, option", [("checkniner_snapshot", "database_url"), ("checkniner_restore", "target_database_url")]
)
def test_module_msg_names_no_part_of_an_unencoded_password(tmp_path, host_env, options, module, option):  # noqa: F811
    play = Play(tmp_path, host_env)
    bad = dict(options)
    bad[option] = url_with_password(options["database_url"], UNENCODED[0])
    if module == "checkniner_restore":
        bad["confirm"] = True
    result = play.run(module, bad)
    assert result["failed"] is True, result
    assert "cannot be parsed" in result["msg"], result["msg"]
    assert not leaked(play.output), result["msg"]


# -- what child processes see (issue 18): pg_dump and the Django helper never get the S3 keys -------------------

HEARTBEAT = "http://127.0.0.1:9/ping/heartbeat-uuid-is-a-secret"  # nothing listens: a heartbeat that fails warns only


def recording(wrapdir, name, real, log):
    """A wrapper `name` that saves its own /proc/$$/environ (exec keeps it: it is the environment `real` runs with)
    and execs `real`. Deterministic: the environment is read by the process itself, not sampled from outside."""
    script = wrapdir / name
    script.write_text(f'#!/bin/sh\ncat /proc/$$/environ >> {log}\nprintf "\\n--\\n" >> {log}\nexec {real} "$@"\n')
    script.chmod(0o755)
    return script


def environments(log):
    """Each recorded environment as {name: value}."""
    text = log.read_text() if log.exists() else ""
    return [dict(e.split("=", 1) for e in chunk.split("\0") if "=" in e) for chunk in text.split("\n--\n") if chunk]


def test_pg_dump_and_the_helper_never_see_the_s3_keys(run_cli, backup_env, tmp_path):
    wrapdir = tmp_path / "wrap"
    wrapdir.mkdir()
    logs = {name: tmp_path / f"{name}.environ" for name in ("pg_dump", "python")}
    recording(wrapdir, "pg_dump", shutil.which("pg_dump", path=backup_env["PATH"]), logs["pg_dump"])
    python = recording(wrapdir, "python", sys.executable, logs["python"])
    env = {
        "PATH": f"{wrapdir}:{backup_env['PATH']}",
        "CHECKNINER_DJANGO_PYTHON": str(python),
        "CHECKNINER_BACKUP_HEALTHCHECK_URL": HEARTBEAT,
        "CHECKNINER_VERIFY_HEALTHCHECK_URL": HEARTBEAT,
        "SECRET_KEY": "the-apps-own-setting",  # the application's: its settings may read any variable
    }
    assert run_cli("run", env=env).returncode == 0
    assert run_cli("verify", env=env).returncode == 0  # the drill: the helper proves what libpq replayed
    secrets = {backup_env["S3_SECRET_KEY"], backup_env["S3_ACCESS_KEY"], HEARTBEAT}
    for name, log in logs.items():
        seen = environments(log)
        assert seen, f"{name} was not run"
        for child in seen:
            assert not {"S3_SECRET_KEY", "S3_ACCESS_KEY", "CHECKNINER_BACKUP_HEALTHCHECK_URL"} & set(child), name
            assert not secrets & set(child.values()), name
    libpq = environments(logs["pg_dump"])
    assert all("DATABASE_URL" not in child and "SECRET_KEY" not in child for child in libpq)
    assert all(child.get("PGDATABASE") for child in libpq if "PGPASSWORD" in child)
    helper = environments(logs["python"])
    assert all(child["SECRET_KEY"] == "the-apps-own-setting" and child.get("DATABASE_URL") for child in helper)
