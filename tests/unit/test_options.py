"""The option table (options.py) is the one list of variables: config.load reads only its rows, the role's variables
file writes exactly its rows that have a role variable, the modules' doc fragment documents its module options, and
every child process gets an environment built from it, without the engine's secrets."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

from checkniner_backup import child_env, config, options
from checkniner_backup.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "module_utils" / "checkniner_backup"
ROLE = ROOT / "roles" / "checkniner_backup"

SECRETS = {
    "S3_SECRET_KEY": "primary-secret-key",
    "S3_ACCESS_KEY": "primary-access-key",
    "S3_OFFSITE_SECRET_KEY": "offsite-secret-key",
    "S3_OFFSITE_ACCESS_KEY": "offsite-access-key",
    "CHECKNINER_BACKUP_HEALTHCHECK_URL": "https://hc.example/ping/run-uuid",
    "CHECKNINER_VERIFY_HEALTHCHECK_URL": "https://hc.example/ping/verify-uuid",
    "CHECKNINER_PRUNE_HEALTHCHECK_URL": "https://hc.example/ping/prune-uuid",
    "CHECKNINER_RESTORE_TARGET_DATABASE_URL": "postgres://u:target-pw@h/elsewhere",
}
HOST = {
    "DATABASE_URL": "postgres://app:db-pw@db.example/checkniner",
    "DJANGO_SETTINGS_MODULE": "checkniner.settings",
    "CHECKNINER_MANAGE_PY": "/srv/app/manage.py",
    "S3_BUCKET_NAME": "b",
    "S3_OFFSITE_BUCKET_NAME": "o",
    "CHECKNINER_BACKUP_DESTINATIONS": "offsite",
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/app",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TZ": "UTC",
    "PGSSLROOTCERT": "/etc/ssl/db.pem",
    "PGSERVICE": "checkniner",
    "GNUPGHOME": "/home/app/.gnupg",
    "SECRET_KEY": "the-apps-own-django-secret",  # the application's settings read it
    **SECRETS,
}


def _config():
    return config.load(HOST)


def test_every_row_is_spelled_once():
    names = [row.name for row in options.OPTIONS]
    assert len(names) == len(set(names))
    assert {"DATABASE_URL", "S3_SECRET_KEY", "CHECKNINER_KEEP_WITHIN", "CHECKNINER_BACKUP_DESTINATIONS"} <= set(names)
    assert options.lookup("S3_OFFSITE_SECRET_KEY").suffix == "SECRET_KEY"  # a family row, for any destination name
    assert options.lookup("S3_OFFSITE_NOTHING") is None and options.lookup("PATH") is None


def test_a_variable_outside_the_table_cannot_be_read():
    with pytest.raises(KeyError):
        options.get({"CHECKNINER_TYPO": "x"}, "CHECKNINER_TYPO")


def test_no_engine_module_but_config_reads_the_environment():
    # the django_helper package runs in the application's interpreter: it reads what child_env.helper gave it
    readers = sorted(
        str(p.relative_to(ENGINE))
        for p in ENGINE.rglob("*.py")
        if "os.environ" in p.read_text() and p.name != "config.py" and p.parent.name != "django_helper"
    )
    assert not readers, f"these read os.environ past config.load: {readers}"


def test_only_child_env_reads_what_children_inherit():
    readers = sorted(
        str(p.relative_to(ENGINE))
        for p in ENGINE.rglob("*.py")
        if ".inherited" in p.read_text() and p.name not in ("config.py", "child_env.py")
    )
    assert not readers, f"these read Config.inherited instead of a typed field: {readers}"


def test_the_defaults_of_the_table_are_what_load_uses():
    cfg = config.load({"S3_BUCKET_NAME": "b"}, require_database=False)
    assert cfg.apps == options.get({}, "CHECKNINER_BACKUP_APPS").split(",")
    assert cfg.log_format == options.get({}, "CHECKNINER_BACKUP_LOG_FORMAT")
    assert cfg.schedule_minutes == int(options.get({}, "CHECKNINER_BACKUP_SCHEDULE_MINUTES"))
    (dest,) = cfg.destinations
    assert dest.prefix == options.get({}, "S3_PREFIX") and dest.region == options.get({}, "S3_REGION")
    assert dest.object_lock_mode == options.get({}, "S3_OBJECT_LOCK_MODE")


def test_load_fills_the_typed_fields_the_commands_read():
    cfg = config.load({**HOST, "CHECKNINER_SIGNING_KEY": " /k ", "CHECKNINER_KEEP_DAILY": "many"})
    assert cfg.signing_key_path == "/k" and cfg.trusted_keys_path is None
    assert cfg.restore_target_url == SECRETS["CHECKNINER_RESTORE_TARGET_DATABASE_URL"]
    assert cfg.keep == {"CHECKNINER_KEEP_DAILY": "many"}  # checked by prune alone, not by load
    assert cfg.prune_remote_text == "1"


@pytest.mark.parametrize("names", ["off-site", "offsite,2nd", "nas.local"])
def test_a_bad_destination_name_is_told_as_such(names):
    with pytest.raises(ConfigError) as caught:
        config.load({"CHECKNINER_BACKUP_DESTINATIONS": names}, require_database=False)
    assert str(caught.value).startswith("CHECKNINER_BACKUP_DESTINATIONS has invalid destination names: ")
    assert "app labels" not in str(caught.value)


def _holds_a_secret(env):
    return sorted(name for name, value in env.items() if value in SECRETS.values())


def test_libpq_programs_get_the_runtime_libpq_and_the_database_only():
    cfg = _config()
    env = child_env.libpq(cfg, cfg.database)
    assert not _holds_a_secret(env)
    assert "SECRET_KEY" not in env and "DATABASE_URL" not in env and "GNUPGHOME" not in env
    assert env["PGPASSWORD"] == "db-pw" and env["PGDATABASE"] == "checkniner"  # the database, outside argv
    assert env["PGSSLROOTCERT"] == "/etc/ssl/db.pem" and env["PGSERVICE"] == "checkniner"  # honoured as before
    assert {k: env[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ")} == {
        k: HOST[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ")
    }


def test_gpg_gets_its_keyring_and_no_secret():
    env = child_env.gpg(_config())
    assert not _holds_a_secret(env)
    assert env["GNUPGHOME"] == HOST["GNUPGHOME"] and env["PATH"] == HOST["PATH"]
    assert "DATABASE_URL" not in env and "PGSSLROOTCERT" not in env


def test_the_notifier_gets_the_runtime_and_the_network_and_no_secret():
    cfg = config.load({**HOST, "HTTPS_PROXY": "http://proxy.example:3128", "CHECKNINER_NOTIFY_URLS": "json://h/x"})
    env = child_env.notifier(cfg)
    assert not _holds_a_secret(env) and "json://h/x" not in env.values()
    assert "DATABASE_URL" not in env and "SECRET_KEY" not in env and "PGSSLROOTCERT" not in env
    assert env["HTTPS_PROXY"] == "http://proxy.example:3128" and env["PATH"] == HOST["PATH"]


def test_the_django_helper_gets_the_applications_environment_without_the_engines_secrets():
    from checkniner_backup import django_client

    cfg = _config()
    env = django_client.helper_env(cfg, cfg.database)
    assert not _holds_a_secret(env), "S3 keys, heartbeat URLs and the restore target are the engine's alone"
    assert env["SECRET_KEY"] == HOST["SECRET_KEY"]  # the application's settings may read any variable of the host
    assert env["DATABASE_URL"] == HOST["DATABASE_URL"]  # and dj-database-url reads this one
    assert env["S3_BUCKET_NAME"] == "b"  # not a secret: an app's settings may read it too


# -- the Ansible side and the role, kept in step with the table -------------------------------------------------


def _fragment_options():
    spec = importlib.util.spec_from_file_location("cnb_fragment", ROOT / "doc_fragments" / "checkniner_backup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return yaml.safe_load(module.ModuleDocFragment.DOCUMENTATION)["options"]


def test_the_doc_fragment_documents_every_module_option_of_the_table_with_its_variable():
    rows = {row.option: row for row in options.OPTIONS if row.option}
    documented = _fragment_options()
    assert set(documented) - {"env_file", "environment"} == set(rows)
    for option, row in rows.items():
        assert f"C({row.name})" in " ".join(documented[option]["description"]), option


def _role_env():
    """{variable: its Jinja expression} of the variables file (vars/main.yml), and the retention dict's expression."""
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    return role_vars["_checkniner_backup_env"], role_vars["_checkniner_backup_retention_env"]


def test_the_role_writes_every_variable_that_has_a_role_variable_and_no_other():
    written, retention = _role_env()
    rows = {row.name: row for row in options.OPTIONS if row.role_var}
    per_key = {name: row for name, row in rows.items() if row.role_var != options.RETENTION_ROLE_VAR}
    assert set(written) == set(per_key), "vars/main.yml _checkniner_backup_env and options.OPTIONS differ"
    for name, row in per_key.items():
        assert re.search(rf"\b{row.role_var}\b", written[name]), f"{name} is not written from {row.role_var}"
    # the retention tiers: one dict, each key K written as CHECKNINER_KEEP_<K>
    keep = {name for name, row in rows.items() if row.role_var == options.RETENTION_ROLE_VAR}
    assert keep == set(options.RETENTION_VARS.values())
    assert options.RETENTION_ROLE_VAR in retention and "'^', 'CHECKNINER_KEEP_'" in retention
    assert "_checkniner_backup_retention_env" in (ROLE / "templates" / "checkniner-backup.env.j2").read_text()


def test_every_role_variable_of_the_table_is_a_public_role_variable():
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    missing = sorted({row.role_var for row in options.OPTIONS if row.role_var} - set(specs))
    assert not missing, f"meta/argument_specs.yml lacks {missing}"
    secrets = {row.role_var for row in options.OPTIONS if row.role_var and (row.secret or row.credential)}
    assert all(specs[var].get("no_log") for var in secrets), "a secret's role variable must be no_log"


def test_the_table_imports_nothing_of_the_engine():
    # config, child_env, retention_policy and the Ansible side all read it: it must sit below them all
    assert not re.search(r"^from \.", (ENGINE / "options.py").read_text(), re.M)
    assert "checkniner_backup.options" in sys.modules
