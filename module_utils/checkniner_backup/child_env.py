"""The environment of every child process the engine starts, one function per kind of child, built from the option
table: never the whole environment with the S3 secret keys.

- libpq programs (pg_dump, psql, and their --version): what a program needs to run (options.RUNTIME_VARS: PATH,
  HOME, LANG, LC_*, TZ, TMPDIR, ...), the libpq variables it honoured before (PG*: PGSSLROOTCERT, PGSERVICE,
  PGPASSFILE, ...; Kerberos' ticket cache), then the database's own (Database.libpq_env, the password included).
  Nothing else: pg_dump has no use for S3 keys, heartbeat URLs or the application's settings.
- gpg: the same runtime variables plus its keyring and agent (GNUPGHOME, GPG_AGENT_INFO).
- the Apprise notifier: the runtime variables plus the proxies and CA bundles (options.NETWORK_VARS).
- the Django helper: the application's environment, which is the whole environment minus what the table marks as the
  engine's secrets or credentials (options.withheld: every destination's S3 keys, heartbeat URLs, the restore
  target's URL). It cannot be an allow-list: the application's settings may read any variable of the variables file
  or of the host (SECRET_KEY, its own AWS_* for its media storage, DATABASE_URL through dj-database-url), and a
  missing one fails its settings before any fixture is written. DATABASE_URL stays (the table marks it `app`): the
  settings read it, and it names the database the helper is pointed at anyway.

Every child of the engine gets its environment here; Config.inherited (what load() kept of the environment, the
engine's secrets already left out) is read nowhere else.
"""

from . import options


def _matches(name, names):
    return any(name.startswith(n[:-1]) if n.endswith("*") else name == n for n in names)


def _pick(config, names):
    return {k: v for k, v in config.inherited.items() if _matches(k, names)}


def libpq(config, database=None):
    """For pg_dump and psql: the runtime, the PG* variables already set, then `database`'s parameters over them."""
    env = _pick(config, options.RUNTIME_VARS + options.LIBPQ_VARS)
    if database is not None:
        env.update(database.libpq_env())
    return env


def gpg(config):
    """For gpg: the runtime, the keyring (GNUPGHOME) and the agent."""
    return _pick(config, options.RUNTIME_VARS + options.GPG_VARS)


def notifier(config):
    """For the Apprise notifier (notify.py): the runtime, and how it reaches the network (proxies, CA bundles). The
    URLs it sends to come on its stdin, never from its environment."""
    return _pick(config, options.RUNTIME_VARS + options.NETWORK_VARS)


def helper(config):
    """For the Django helper (django_client adds where the app and the database are): the application's environment,
    without the engine's own secrets (see the module's docstring for why it is not an allow-list)."""
    return dict(config.inherited)


def inherited(env):
    """What Config.inherited keeps of an environment: every variable but the engine's secrets and credentials that
    the application does not read (options.withheld)."""
    return {k: v for k, v in env.items() if not options.withheld(k)}
