"""The catalog query behind schema digests (format 2, see schema.py): one row per fact of a schema object.

Each row is (key, line, context, expressions): `line` is the object's structure read from the catalog by name (no
OID), `expressions` the texts PostgreSQL deparses for it (a default, a CHECK, an index's expressions and predicate, a
trigger's WHEN, a policy's USING and WITH CHECK, a view's query), which schema.py takes through one canonical round
trip before they join the line. `context` says how such a text is parsed again (CONTEXTS): "rel" as an expression
over the table's columns, "index" as a list of them, "trigger" over NEW and OLD, "view" as a whole query. A NULL
among the expressions is kept: an index with a predicate and no expression differs from one with an expression and
no predicate.

Read with search_path = '' so every name is schema-qualified, as pg_dump writes it.
"""

# constant text, put together once: the user schemas (not the catalogs) and their relations
_USER_N = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
_TABLES = "c.relkind IN ('r', 'p', 'v', 'm', 'f') AND " + _USER_N
_REL = "pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
_KEY = "format('table %I.%I', n.nspname, c.relname)"
# a member of an extension is created by CREATE EXTENSION at the target's own version: not the archive's to prove
_NOT_EXTENSION = (
    "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass"
    " AND e.objid = p.oid AND e.deptype = 'e')"
)

_TEMPLATE = """
SELECT {key}, format('kind %s rls %s force %s options %s partition %s bound %s', c.relkind, c.relrowsecurity,
       c.relforcerowsecurity, c.reloptions, pg_catalog.pg_get_partkeydef(c.oid),
       pg_catalog.pg_get_expr(c.relpartbound, c.oid)), NULL, NULL::text[]
  FROM {rel} WHERE {tables}
UNION ALL
SELECT {key}, format('column %I %s notnull %s identity %s generated %s collation %s default', a.attname,
       pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity, a.attgenerated,
       (SELECT format('%I.%I', cn.nspname, co.collname) FROM pg_catalog.pg_collation co
          JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = a.attcollation)),
       'rel', ARRAY[pg_catalog.pg_get_expr(d.adbin, d.adrelid)]
  FROM pg_catalog.pg_attribute a JOIN {rel} ON c.oid = a.attrelid
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attnum > 0 AND NOT a.attisdropped AND {tables}
UNION ALL
-- a CHECK's text is its expression, taken through the round trip; the other kinds print no expression (an
-- exclusion constraint's expressions and predicate are its index's, below)
SELECT {key}, format('constraint %I type %s deferrable %s deferred %s valid %s noinherit %s operators %s %s',
       con.conname, con.contype, con.condeferrable, con.condeferred, con.convalidated, con.connoinherit,
       (SELECT pg_catalog.string_agg(o::pg_catalog.regoperator::text, ',' ORDER BY k)
          FROM pg_catalog.unnest(con.conexclop) WITH ORDINALITY AS x(o, k)),
       CASE WHEN con.contype NOT IN ('c', 'x') THEN pg_catalog.pg_get_constraintdef(con.oid) END),
       'rel', ARRAY[CASE WHEN con.contype = 'c' THEN pg_catalog.pg_get_expr(con.conbin, con.conrelid) END]
  FROM pg_catalog.pg_constraint con JOIN {rel} ON c.oid = con.conrelid
 WHERE {tables}
UNION ALL
SELECT {key}, format('index %I using %s unique %s primary %s exclusion %s immediate %s nulls %s keys %s (%s) %s',
       ic.relname, am.amname, i.indisunique, i.indisprimary, i.indisexclusion, i.indimmediate,
       pg_catalog.to_jsonb(i) -> 'indnullsnotdistinct', i.indnkeyatts,
       (SELECT pg_catalog.string_agg(format('%s %s %s %s %s',
                  CASE WHEN k.attnum = 0 THEN 'expression' ELSE pg_catalog.quote_ident(ta.attname) END,
                  (SELECT format('%I.%I', opn.nspname, opc.opcname) FROM pg_catalog.pg_opclass opc
                     JOIN pg_catalog.pg_namespace opn ON opn.oid = opc.opcnamespace WHERE opc.oid = k.opclass),
                  (SELECT format('%I.%I', cn.nspname, co.collname) FROM pg_catalog.pg_collation co
                     JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = k.coll),
                  k.opt, ia.attoptions), ', ' ORDER BY k.ord)
          FROM unnest(i.indkey::pg_catalog.int2[], i.indclass::pg_catalog.oid[],
                                  i.indcollation::pg_catalog.oid[], i.indoption::pg_catalog.int2[])
               WITH ORDINALITY AS k(attnum, opclass, coll, opt, ord)
          LEFT JOIN pg_catalog.pg_attribute ta ON ta.attrelid = i.indrelid AND ta.attnum = k.attnum
          LEFT JOIN pg_catalog.pg_attribute ia ON ia.attrelid = i.indexrelid AND ia.attnum = k.ord),
       ic.reloptions),
       'index', ARRAY[pg_catalog.pg_get_expr(i.indexprs, i.indrelid), pg_catalog.pg_get_expr(i.indpred, i.indrelid)]
  FROM pg_catalog.pg_index i JOIN {rel} ON c.oid = i.indrelid
  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid JOIN pg_catalog.pg_am am ON am.oid = ic.relam
 WHERE {tables}
UNION ALL
-- the function a trigger calls is part of the trigger: a changed body changes the table's digest too
SELECT {key}, format('trigger %I type %s enabled %s calls %s args %s columns %s deferrable %s deferred %s'
                     ' tables %s %s body %s', t.tgname, t.tgtype, t.tgenabled, t.tgfoid::pg_catalog.regprocedure,
       pg_catalog.encode(t.tgargs, 'hex'), t.tgattr, t.tgdeferrable, t.tginitdeferred, t.tgoldtable,
       t.tgnewtable, pg_catalog.md5(pg_catalog.pg_get_functiondef(t.tgfoid))),
       'trigger', ARRAY[CASE WHEN t.tgqual IS NOT NULL THEN pg_catalog.substring(pg_catalog.pg_get_triggerdef(t.oid),
                             ' WHEN \\((.*)\\) EXECUTE (?:FUNCTION|PROCEDURE) ') END]
  FROM pg_catalog.pg_trigger t JOIN {rel} ON c.oid = t.tgrelid
 WHERE NOT t.tgisinternal AND {tables}
UNION ALL
SELECT {key}, format('policy %I command %s permissive %s roles %s', pol.polname, pol.polcmd, pol.polpermissive,
       (SELECT pg_catalog.string_agg(CASE WHEN r = 0 THEN 'public' ELSE pg_catalog.quote_ident(ro.rolname) END,
                                     ',' ORDER BY 1)
          FROM pg_catalog.unnest(pol.polroles) AS r LEFT JOIN pg_catalog.pg_roles ro ON ro.oid = r)),
       'rel', ARRAY[pg_catalog.pg_get_expr(pol.polqual, pol.polrelid),
                    pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid)]
  FROM pg_catalog.pg_policy pol JOIN {rel} ON c.oid = pol.polrelid
 WHERE {tables}
UNION ALL
-- a rule other than a view's own: printed as PostgreSQL prints it (see schema.py on why not round-tripped)
SELECT {key}, format('rule %I event %s instead %s enabled %s %s', r.rulename, r.ev_type, r.is_instead,
       r.ev_enabled, pg_catalog.pg_get_ruledef(r.oid)), NULL, NULL
  FROM pg_catalog.pg_rewrite r JOIN {rel} ON c.oid = r.ev_class
 WHERE NOT (r.rulename = '_RETURN' AND c.relkind IN ('v', 'm')) AND {tables}
UNION ALL
SELECT {key}, 'query', 'view', ARRAY[pg_catalog.rtrim(pg_catalog.pg_get_viewdef(c.oid), ';')]
  FROM {rel} WHERE c.relkind IN ('v', 'm') AND {user_n}
UNION ALL
SELECT format('sequence %I.%I', n.nspname, c.relname),
       format('%s start %s increment %s min %s max %s cache %s cycle %s last %s', s.data_type, s.start_value,
              s.increment_by, s.min_value, s.max_value, s.cache_size, s.cycle, s.last_value), NULL, NULL
  FROM pg_catalog.pg_sequences s
  JOIN pg_catalog.pg_namespace n ON n.nspname = s.schemaname
  JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename
 WHERE {user_n}
UNION ALL
-- the whole definition as PostgreSQL prints it: arguments and their defaults, result, language, volatility,
-- strictness, security definer, configuration (SET ...) and the body's text
SELECT format('function %s', p.oid::pg_catalog.regprocedure),
       CASE WHEN p.prokind = 'a' THEN format('aggregate returns %s', pg_catalog.pg_get_function_result(p.oid))
            ELSE pg_catalog.pg_get_functiondef(p.oid) END, NULL, NULL
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE {user_n} AND {not_extension}
UNION ALL
SELECT format('publication %I', p.pubname), (pg_catalog.to_jsonb(p) - 'oid' - 'pubowner')::text, NULL, NULL
  FROM pg_catalog.pg_publication p
UNION ALL
-- its tables from the catalog (the pg_publication_tables view takes seconds); not a row filter or a column list
SELECT format('publication %I', p.pubname), format('table %I.%I', n.nspname, c.relname), NULL, NULL
  FROM pg_catalog.pg_publication_rel pr JOIN pg_catalog.pg_publication p ON p.oid = pr.prpubid
  JOIN {rel} ON c.oid = pr.prrelid
UNION ALL
SELECT 'large objects', pg_catalog.string_agg(format('%s %s', m.oid, pg_catalog.md5(pg_catalog.lo_get(m.oid))),
                                              E'\\n' ORDER BY m.oid), NULL, NULL
  FROM pg_catalog.pg_largeobject_metadata m HAVING pg_catalog.count(*) > 0
"""

QUERY = (
    _TEMPLATE.replace("{key}", _KEY)
    .replace("{rel}", _REL)
    .replace("{tables}", _TABLES)
    .replace("{user_n}", _USER_N)
    .replace("{not_extension}", _NOT_EXTENSION)
)

# The names the parsed texts are read against: an expression over the table's columns, over NEW and OLD (a
# trigger's WHEN prints them as new.x and old.x), or a view's whole query. {rel} is the table, schema-qualified.
CONTEXTS = {
    "rel": "SELECT ({text}) AS e FROM {rel}",
    "index": "SELECT {text} FROM {rel}",  # its expressions print as one list (a, b): each a column
    "trigger": "SELECT ({text}) AS e FROM {rel} AS old, {rel} AS new",
    "view": "{text}",
}
