"""The Django helper: runs INSIDE the application's interpreter (its Django, its settings), never in the engine's.

One process sets Django up once and serves every app:

    python helper.pyz dump OUTDIR     # fixtures of every installed app, from one exported snapshot
    python helper.pyz load FIXTURE... # loaddata, all fixtures in one transaction
    python helper.pyz migrate-check   # exit 1 when the database misses migrations
    python helper.pyz migrate         # apply the application's migrations (a new restore target)

The engine imports protocol.py only (the commands, the environment, the message keys and phases, the fixtures'
format and digest): it is Django-free and imports nothing else of this package (held to that by
tests/unit/django_helper/test_protocol.py). Every other file imports Django, inside its functions, and runs only in
the application's interpreter, which does not have checkniner_backup installed: django_client.py builds one zipapp of
this package at run time (in the command's private work directory, the same bytes every time) and runs it there. So
no file here imports the engine, and the files import one another relatively (inside the zipapp the package has a
name of its own).

    protocol.py    the names both sides speak          bootstrap.py   Django set up once, one line to the engine
    framing.py     a fixture file's list around its objects
    serializer.py  Django's serializer, the formats' encoders       ordering.py    row order, natural keys
    app_models.py  an app's models and tables          commands.py    dump, load, migrate-check, migrate
    fast_values.py, fast_path.py   the fast path: PostgreSQL writes a model's objects itself
    inheritance.py the kind of value a field is written as (its class, or the built-in one it inherits unchanged)
"""
