"""Schema digests in their first form (format 1): what archives written before format 2 recorded (schema.py).

Kept to compare such an archive's digests like with like, for "already matches" only: this form prints
pg_get_indexdef() and pg_get_constraintdef(), whose text changes across a dump and its replay (an IN list on a
varchar column), so a restore's proof does not count it (schema.compare).
"""

from . import pg

# constant text, put together once: the user schemas (not the catalogs) and their relations
_USER_N = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
_USER_S = "s.schemaname NOT IN ('pg_catalog', 'information_schema') AND s.schemaname NOT LIKE 'pg\\_%'"
_TABLES = "c.relkind IN ('r', 'p', 'v', 'm', 'f') AND " + _USER_N
_TEMPLATE = """
SELECT key, md5(string_agg(line, E'\\n' ORDER BY line)) FROM (
  SELECT format('table %I.%I', n.nspname, c.relname) AS key, format('kind %s', c.relkind) AS line
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE {tables}
  UNION ALL
  SELECT format('table %I.%I', n.nspname, c.relname),
         format('column %I %s %s %s %s', a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
                a.attidentity, pg_catalog.pg_get_expr(d.adbin, d.adrelid))
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attnum > 0 AND NOT a.attisdropped AND {tables}
  UNION ALL
  SELECT format('table %I.%I', n.nspname, c.relname),
         format('constraint %I %s', con.conname, pg_catalog.pg_get_constraintdef(con.oid))
    FROM pg_catalog.pg_constraint con
    JOIN pg_catalog.pg_class c ON c.oid = con.conrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE {tables}
  UNION ALL
  SELECT format('table %I.%I', n.nspname, c.relname), format('index %s', pg_catalog.pg_get_indexdef(i.indexrelid))
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class c ON c.oid = i.indrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE {tables}
  UNION ALL
  SELECT format('table %I.%I', n.nspname, c.relname), format('trigger %s', pg_catalog.pg_get_triggerdef(t.oid))
    FROM pg_catalog.pg_trigger t
    JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE NOT t.tgisinternal AND {tables}
  UNION ALL
  SELECT format('table %I.%I', n.nspname, c.relname), format('view %s', pg_catalog.pg_get_viewdef(c.oid))
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('v', 'm') AND {user_n}
  UNION ALL
  SELECT format('sequence %I.%I', schemaname, sequencename),
         format('%s %s %s', data_type, increment_by, last_value)
    FROM pg_catalog.pg_sequences s WHERE {user_s}
  UNION ALL
  SELECT 'large objects', format('%s %s', m.oid, md5(pg_catalog.lo_get(m.oid)))
    FROM pg_catalog.pg_largeobject_metadata m
) AS objects GROUP BY key
"""
_DIGESTS = _TEMPLATE.replace("{tables}", _TABLES).replace("{user_n}", _USER_N).replace("{user_s}", _USER_S)


def digests(conn):
    """{object key: md5} of the database `conn` is connected to, in format 1."""
    with conn.cursor() as cur:
        cur.execute("SET LOCAL search_path = ''" if not conn.autocommit else "SET search_path = ''")
        cur.execute(_DIGESTS)
        return dict(cur.fetchall())


def of_database(database):
    """digests() of a database, read now."""
    conn = pg.connect(database)
    try:
        return digests(conn)
    finally:
        conn.close()
