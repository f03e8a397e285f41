"""module_utils/checkniner_backup_ansible.py: the shared options, their translation into the engine's environment,
the secrets they carry, and the boundary between the Ansible side and the engine."""

import shlex

import pytest
from support.ansible_module import ROOT, S3_SECRET, run_module  # first: it puts module_utils under ansible.module_utils

# isort: split
from ansible.module_utils.checkniner_backup.errors import ConfigError
from ansible.module_utils.checkniner_backup_ansible import common_argument_spec, env_from_params


def test_env_from_params_layers_host_environment_then_environment_option_then_options():
    params = {key: None for key in common_argument_spec()}
    params.update(
        environment={"S3_PREFIX": "env/", "CHECKNINER_BACKUP_DIR": "/env", "DROP_ME": None},
        backup_dir="/option",
        business_apps=["auth", " checkouts"],
        s3_secret_key=S3_SECRET,
    )
    env = env_from_params(params, base={"DATABASE_URL": "postgres://h/host", "DROP_ME": "x", "PATH": "/bin"})
    assert env["DATABASE_URL"] == "postgres://h/host"  # host fallback
    assert env["S3_PREFIX"] == "env/"  # environment option
    assert env["CHECKNINER_BACKUP_DIR"] == "/option"  # option wins over environment
    assert env["CHECKNINER_BACKUP_APPS"] == "auth,checkouts"
    assert env["S3_SECRET_KEY"] == S3_SECRET
    assert "DROP_ME" not in env
    assert env["PATH"] == "/bin"


def test_shared_secrets_are_no_log_options():
    spec = common_argument_spec()
    assert {k for k, v in spec.items() if v.get("no_log")} == {"database_url", "s3_access_key", "s3_secret_key"}
    assert common_argument_spec() is not common_argument_spec()  # modules .update() their own copy


def test_modules_never_import_ansible_into_the_engine():
    engine = ROOT / "module_utils" / "checkniner_backup"
    for path in engine.rglob("*.py"):
        assert "import ansible" not in path.read_text() and "from ansible" not in path.read_text(), path


VALUES = {
    "DATABASE_URL": "postgres://app:pa ss'wo\"rd$x@db.example/checkniner",
    "S3_OFFSITE_SECRET_KEY": "off-site secret/with spaces",
    "CHECKNINER_BACKUP_HEALTHCHECK_URL": "https://hc-ping.com/5b1c9d1e-secret-uuid",
    "CHECKNINER_BACKUP_DIR": "/var/backups/checkniner",
    "EMPTY": "",
}


def _env_file(tmp_path, values=VALUES, extra=""):
    path = tmp_path / "checkniner-backup.env"
    path.write_text(
        "# written by the role\n\n" + "".join(f"export {k}={shlex.quote(v)}\n" for k, v in values.items()) + extra
    )
    return str(path)


def test_the_variables_file_is_read_as_the_role_writes_it(tmp_path):
    """shell-quoted values (quotes, spaces, $) come back exactly; the file sits under the options."""
    env = env_from_params({"env_file": _env_file(tmp_path), "backup_dir": "/elsewhere"}, base={"PATH": "/bin"})
    assert {k: env[k] for k in VALUES if k != "CHECKNINER_BACKUP_DIR"} == {
        k: v for k, v in VALUES.items() if k != "CHECKNINER_BACKUP_DIR"
    }
    assert env["CHECKNINER_BACKUP_DIR"] == "/elsewhere" and env["PATH"] == "/bin"


@pytest.mark.parametrize("line", ["DATABASE_URL=postgres://x", "export A=unterminated'", "export A=two words"])
def test_a_bad_line_is_named_never_echoed(tmp_path, line):
    with pytest.raises(ConfigError) as exc:
        env_from_params({"env_file": _env_file(tmp_path, extra=line + "\n")}, base={})
    assert (
        str(exc.value)
        == f"{tmp_path}/checkniner-backup.env line 8 is not `export NAME=VALUE` (the role writes this file)"
    )


def test_secrets_from_the_variables_file_are_masked(tmp_path):
    """The module reads the file itself; every secret in it is masked in what the module returns."""
    path = _env_file(tmp_path, {**VALUES, "DATABASE_URL": "postgres://app:Sec%2Fret-pw@127.0.0.1:1/nodb"})
    result, code, raw = run_module("checkniner_snapshot", {"env_file": path, "backup_dir": str(tmp_path / "b")})
    assert code == 1
    for secret in ("Sec/ret-pw", "Sec%2Fret-pw", "off-site secret/with spaces", "5b1c9d1e-secret-uuid"):
        assert secret not in raw
