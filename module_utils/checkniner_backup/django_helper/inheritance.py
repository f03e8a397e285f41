"""Which kind of value (fast_values.KIND_OF) the fast path writes for a field, or why it cannot.

A field's class need not be Django's own: a subclass (django-model-utils' AutoCreatedField is a DateTimeField) is
written as the nearest class of its ancestry the fast path knows, provided nothing between the two changes what a dump
reads or writes for it. That is decided by what the dump really calls, in the order it calls it, the same in Django
3.2 and 5.2 (django/core/serializers/python.py `_value_from_field`, and the queryset that gives it the objects):

- the column: `db_type`, `rel_db_type`, `get_internal_type` (the SQL reads the column as the parent's type, and the
  backend picks its converters by the internal type);
- the SELECT: `select_format`, `get_col`, `cached_col`;
- the value the model instance gets: `get_db_converters`, `from_db_value`, and the descriptor that `getattr(obj,
  attname)` goes through (`descriptor_class`, and whatever contribute_to_class really installed: a data descriptor
  of another class intercepts the value; a plain class attribute, such as Django 3.2's `AbstractBaseUser.is_active =
  True`, keeps the field from installing one and is shadowed by the instance's value);
- the serializer: `value_from_object`, then `value_to_string` for a value that is not a number, a date or None.

to_python and get_prep_value are not on that list: loaddata (Django's deserializer) calls them whichever path wrote
the fixture, and no dump calls them. An attribute counts as changed when the class it resolves to differs from the
parent's (a mixin after the parent in the MRO that adds from_db_value changes it too), or when the field instance
carries its own (not the value a cached_property such as cached_col keeps there once a query has used it).
"""

READ_PATH = (
    "db_type", "rel_db_type", "get_internal_type", "select_format", "get_col", "cached_col", "get_db_converters",
    "from_db_value", "descriptor_class", "value_from_object", "value_to_string",
)  # fmt: skip


class Unsupported(Exception):
    """This model goes through Django's serializer (the message says why)."""


def _owner(cls, name):
    """The class of cls's MRO that defines name (the one Python resolves it to), or None."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass
    return None


def changed_by(cls, known):
    """The READ_PATH names a subclass cls resolves otherwise than its ancestor known does."""
    return [name for name in READ_PATH if _owner(cls, name) is not _owner(known, name)]


def carried(field, name):
    """Whether the field instance carries name itself, rather than its class's cached_property having cached it."""
    if name not in vars(field):
        return False
    owner = _owner(type(field), name)
    return owner is None or type(vars(owner)[name]).__name__ != "cached_property"  # Django's and functools' alike


def nearest_known(cls, kinds):
    """The first class of cls's MRO that kinds ({class: kind}) holds, or None."""
    return next((klass for klass in cls.__mro__ if klass in kinds), None)


def installed_descriptor(field):
    """The class of the data descriptor a model instance reads the field's attname through (None: none, or the field
    is on no model). Anything else on the class is shadowed by the value Model.__init__ puts in the instance."""
    model = getattr(field, "model", None)
    attname = getattr(field, "attname", None)
    if model is None or not attname:
        return None
    for klass in model.__mro__:
        if attname in vars(klass):
            found = type(vars(klass)[attname])
            return found if hasattr(found, "__set__") or hasattr(found, "__delete__") else None
    return None


def kind_of(field, kinds):
    """The kind of field for the fast path; raises Unsupported naming the field, its class and what it changes."""
    cls = type(field)
    known = nearest_known(cls, kinds)
    if known is None:
        raise Unsupported(f"{field.name} is {article_of(cls)}")
    changed = changed_by(cls, known) if cls is not known else []
    changed += [name for name in READ_PATH if carried(field, name) and name not in changed]
    if changed:
        raise Unsupported(f"{field.name} is {article_of(cls)} that overrides {', '.join(changed)}")
    descriptor, expected = installed_descriptor(field), getattr(cls, "descriptor_class", None)
    if descriptor is not None and expected is not None and descriptor is not expected:
        raise Unsupported(f"{field.name} is {article_of(cls)} read through {article_of(descriptor)}")
    return kinds[known]


def article_of(cls):
    """ "a Tags", "an AutoCreatedField": the class named as the reasons name it."""
    return f"{'an' if cls.__name__[:1] in 'AEIOU' else 'a'} {cls.__name__}"
