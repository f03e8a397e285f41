"""Documentation of the options every checkniner_* module shares (module_utils/checkniner_backup_ansible.py)."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  database_url:
    description:
      - The PostgreSQL database, in dj-database-url syntax (C(postgres://user:password@host:port/dbname)).
      - Default is the C(DATABASE_URL) environment variable of the managed host.
      - The password in it is masked in every result, whichever way it reached the module.
    type: str
  backup_dir:
    description:
      - Local archive directory (archives, C(latest.tar.gz), state, lock, upload outbox).
      - Default is the C(CHECKNINER_BACKUP_DIR) environment variable of the managed host.
    type: path
  business_apps:
    description:
      - Business apps whose data decides whether a new archive is saved.
      - Default is the C(CHECKNINER_BACKUP_APPS) environment variable, else C(auth) and C(checkouts).
    type: list
    elements: str
  django_python:
    description:
      - Interpreter of the application's virtualenv (its Django dumps and loads the fixtures).
      - Default is the C(CHECKNINER_DJANGO_PYTHON) environment variable, else the module's interpreter.
    type: path
  manage_py:
    description:
      - Path of the application's C(manage.py).
      - Default is the C(CHECKNINER_MANAGE_PY) environment variable.
    type: path
  settings_module:
    description:
      - The application's Django settings module.
      - Default is the C(DJANGO_SETTINGS_MODULE) environment variable.
    type: str
  s3_bucket:
    description:
      - S3 bucket; setting it turns S3 distribution on.
      - Default is the C(S3_BUCKET_NAME) environment variable; without either, S3 is off.
    type: str
  s3_prefix:
    description:
      - Key prefix of the archives and of the C(latest.json) pointer.
      - Default is the C(S3_PREFIX) environment variable, else C(db/).
    type: str
  s3_endpoint_url:
    description:
      - URL of an S3-compatible endpoint.
      - Default is the C(S3_ENDPOINT_URL) environment variable, else AWS.
    type: str
  s3_region:
    description:
      - S3 region.
      - Default is the C(S3_REGION) environment variable, else C(us-east-1).
    type: str
  s3_access_key:
    description:
      - S3 access key id.
      - Default is the C(S3_ACCESS_KEY) environment variable; the standard C(AWS_*) variables and profiles also work.
      - Given as this option, it is masked in every result.
    type: str
  s3_secret_key:
    description:
      - S3 secret access key.
      - Default is the C(S3_SECRET_KEY) environment variable; the standard C(AWS_*) variables and profiles also work.
      - It is masked in every result, whichever way it reached the module.
    type: str
  gpg_recipient:
    description:
      - Encrypt archives to this public key.
      - Default is the C(BACKUPS_GPG_RECIPIENT) environment variable.
    type: str
  trusted_keys:
    description:
      - A file of the public keys (the C(PATH.pub) lines of C(checkniner-backup keygen)) whose archive signatures
        are accepted. Restore and verify refuse other archives, and prune counts only archives signed by one of them
        (any other object is left and listed as unauthenticated).
      - Default is the C(CHECKNINER_TRUSTED_KEYS) environment variable; the host's own signing key is trusted too.
    type: path
  env_file:
    description:
      - The role's variables file on the managed host (C(export NAME=VALUE) lines), read by the module itself as
        the user it runs as. This is the configuration cron uses, and its secrets never travel through the task's
        environment or the module's arguments (Ansible would show the environment on the process command line).
      - Applied over the host's environment and under O(environment) and the options; secrets in it (database URLs,
        secret keys, heartbeat URLs) are masked in the results.
    type: path
  environment:
    description:
      - Extra environment variables for the engine and the programs it runs.
      - For example C(PATH), C(PGSSLROOTCERT), C(AWS_PROFILE).
      - Applied over the host's environment and O(env_file), and under the options above; a C(null) value removes a
        variable.
      - Any of the contract's variables (C(DATABASE_URL), C(S3_SECRET_KEY)...) may be given here too; their secrets are
        masked in the results.
    type: dict
    default: {}
notes:
  - Every option falls back to the managed host's environment variable of the same meaning, the names the
    C(checkniner-backup) command line reads, so a host configured for cron needs no module options at all.
requirements:
  - The C(checkniner-backup) dependencies on the managed host (C(psycopg2), and C(boto3) when S3 is used).
  - PostgreSQL client programs (C(pg_dump), C(psql)) whose major version is at least the server's.
"""
