"""Options shared by the checkniner_* modules, their translation into the engine's configuration, and the one module
main (run_module) every library/checkniner_*.py calls.

The engine reads its configuration from one environment mapping (``api.load_config(env)``), the same way the
command line does. A module starts from the host's environment (so ``DATABASE_URL`` and friends work as
defaults, exactly as for cron), overlays the ``environment`` option, then every option that was given. Nothing here
knows how to back up anything: this is the only translation layer between Ansible and the engine.

This file belongs to the Ansible side; the engine package (``checkniner_backup``) never imports ansible. It reaches
the engine only through ``checkniner_backup.api``, the entry module both front doors share.
"""

import os
import re
import shlex
import traceback
from urllib.parse import unquote, urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.checkniner_backup import api

# option name -> the engine's environment variable: the option table's rows that have a shared module option
OPTION_ENV = {row.option: row.name for row in api.options.OPTIONS if row.option}

_EXPORT = re.compile(r"^export ([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
# variables holding a database URL (its password is masked too), and variables that are secrets as a whole: the
# table's, and boto3's own credentials (the engine's S3 client reads them when S3_ACCESS_KEY is not set)
URL_VARS = tuple(row.name for row in api.options.OPTIONS if row.secret and row.type == "database_url")
SECRET_VARS = tuple(row.name for row in api.options.OPTIONS if row.secret and row.type != "database_url") + (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)
# and by the shape of their names: every destination's secret key, every heartbeat URL (its path is the secret)
_SECRET_NAME = re.compile(r"(_SECRET_KEY|_SECRET_ACCESS_KEY|_SESSION_TOKEN|_HEALTHCHECK_URL|PASSWORD)$")
# the option table's types as Ansible's (a database URL, a list of apps, ...: all strings but these)
_ANSIBLE_TYPE = {"path": dict(type="path"), "list": dict(type="list", elements="str")}


def common_argument_spec():
    """A fresh argument_spec of the shared options (from the option table; secrets and credentials are no_log);
    modules extend it with ``.update()``."""
    spec = {}
    for row in api.options.OPTIONS:
        if row.option:
            spec[row.option] = dict(_ANSIBLE_TYPE.get(row.type, dict(type="str")))
            if row.secret or row.credential:
                spec[row.option]["no_log"] = True
    spec["trusted_keys"]["no_log"] = False  # a file of public keys: no secret, whatever its name says
    spec.update(env_file=dict(type="path"), environment=dict(type="dict", default={}))
    return spec


def env_from_params(params, base=None):
    """The environment mapping ``config.load`` takes: ``base`` (the host's environment by default), then the
    variables file (``env_file``), then the ``environment`` option, then each option that was given (``None`` means
    "not given": the fallback stays)."""
    env = dict(os.environ if base is None else base)
    if params.get("env_file"):
        env.update(read_env_file(params["env_file"]))
    for key, value in (params.get("environment") or {}).items():
        if value is None:
            env.pop(str(key), None)
        else:
            env[str(key)] = str(value)
    for option, var in OPTION_ENV.items():
        value = params.get(option)
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v).strip() for v in value)
        env[var] = str(value)
    return env


def read_env_file(path):
    """{NAME: VALUE} of the role's variables file: `export NAME=VALUE` lines, VALUE shell-quoted (shlex.quote).

    The module reads it on the host, as the application user, so the secrets in it never travel: not in the task's
    environment (Ansible would put them on the `sh -c` command line every `ps` shows), not in the module's arguments.
    Raises ConfigError, naming the line, never its content."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise api.ConfigError(f"cannot read the variables file {path}: {exc.strerror}") from None
    env = {}
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        match = _EXPORT.match(text)
        try:
            values = shlex.split(match.group(2)) if match else None
        except ValueError:
            values = None
        if values is None or len(values) > 1:
            raise api.ConfigError(f"{path} line {number} is not `export NAME=VALUE` (the role writes this file)")
        env[match.group(1)] = values[0] if values else ""
    return env


def secrets_of(cfg):
    """Every secret the configuration holds, wherever it came from (option, environment option, host variable)."""
    found = set()
    if cfg.database is not None and cfg.database.password:
        found.add(cfg.database.password)
    for url in (cfg.restore_target_url, cfg.verify_database_url):
        if url:
            found |= {url} | url_secrets(url)
    for dest in cfg.destinations:
        if getattr(dest, "secret_key", None):  # a directory destination has none
            found.add(dest.secret_key)
    for url in (cfg.healthcheck_url, cfg.verify_healthcheck_url, cfg.prune_healthcheck_url):
        if url:
            found.add(url)
    found |= set((cfg.notify_urls or "").split())  # each URL alone too: a message may quote one of them
    return found


def hide(module, *values):
    """Mask these strings in everything the module returns (Ansible replaces them with ********)."""
    for value in values:
        if value and len(value) > 1:  # masking a one-character string would garble the whole output
            module.no_log_values.add(value)


def config_from_params(module, require_database=True, base=None):
    """The engine's Config for this task. Secrets found in it are registered with ``module.no_log_values``, so a
    password that reached the engine through the host's environment is masked like a ``no_log`` option.

    Raises the engine's ConfigError for bad configuration (the module's main() reports it).
    """
    env = env_from_params(module.params, base)
    # Registered before parsing, so that even a "malformed URL" message cannot echo a password.
    hide(module, *(env.get(var) for var in URL_VARS + SECRET_VARS))
    hide(module, *(value for name, value in env.items() if _SECRET_NAME.search(name)))
    for var in URL_VARS:
        hide(module, *url_secrets(env.get(var)))
    cfg = api.load_config(env, require_database=require_database)
    hide(module, *secrets_of(cfg))
    return cfg


def url_secrets(url):
    """The password inside a database URL, as written (percent-encoded) and decoded: both are masked."""
    if not url:
        return set()
    try:
        raw = urlsplit(url).password
    except ValueError:
        return set()
    return {raw, unquote(raw)} if raw else set()


def run_module(extra_spec, do, require_database=True, validate=None, **module_kwargs):
    """The main() of every checkniner_* module: parse, check the options, build the config, call the engine, report.

    extra_spec: the module's own options, over common_argument_spec(). do: ``do(module, cfg)``, which reports with
    exit_json/fail_json; or a mapping {state: do_<state>} dispatched on the ``state`` option. require_database: a
    bool, or a callable of the params. validate: ``validate(module)``, the option rules that must fail before the
    configuration is read and the engine runs (it calls fail_json, or raises the engine's ConfigError).
    module_kwargs: more AnsibleModule arguments (mutually_exclusive, required_if, ...).

    The engine's errors (BackupError: ConfigError, StoreError, IntegrityError, Busy, ...) are caught here, once, and
    end the task with their one line as msg.
    """
    argument_spec = common_argument_spec()
    argument_spec.update(extra_spec)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **module_kwargs)
    for option, spec in argument_spec.items():  # a no_log URL option: its password alone is masked too
        if spec.get("no_log") and isinstance(module.params.get(option), str):
            hide(module, *url_secrets(module.params[option]))
    try:
        if validate is not None:
            validate(module)
        need_database = require_database(module.params) if callable(require_database) else require_database
        cfg = config_from_params(module, require_database=need_database)
        if isinstance(do, dict):
            do = do[module.params["state"]]
        do(module, cfg)
    except api.BackupError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    except Exception as exc:  # noqa: BLE001 - a bug or a library's surprise: reported through fail_json all the same
        # Uncaught, Ansible prints the exception's text unmasked (a psycopg2 ValueError may quote the URL's options);
        # through fail_json every no_log value and every secret registered by hide() is masked.
        module.fail_json(msg=f"unexpected {type(exc).__name__}: {exc}", exception=traceback.format_exc())
