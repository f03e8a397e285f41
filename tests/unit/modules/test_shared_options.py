"""module_utils/checkniner_backup_ansible.py: the shared options, their translation into the engine's environment,
the secrets they carry, and the boundary between the Ansible side and the engine."""

from support.ansible_module import ROOT, S3_SECRET  # first: it puts module_utils under ansible.module_utils

# isort: split
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
