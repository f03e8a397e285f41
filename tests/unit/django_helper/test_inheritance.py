"""A subclass of a built-in field takes the fast path as its parent, unless it changes what a dump calls.

A fake hierarchy first (each attribute of the dump's read path, one at a time), then Django's own classes and
django-model-utils' fields as the dev venv installs them (the byte-for-byte proof is
tests/integration/test_fixture_fields.py)."""

import pytest

from checkniner_backup.django_helper.fast_values import field_kinds
from checkniner_backup.django_helper.inheritance import READ_PATH, Unsupported, kind_of


class Descriptor:
    def __init__(self, field):
        self.field = field

    def __set__(self, instance, value):
        instance.__dict__[self.field.attname] = value


class Field:
    """The shape of django.db.models.Field the decision looks at: every read-path attribute, defined here."""

    descriptor_class = Descriptor

    def __init__(self, name="moment"):
        self.name, self.attname, self.model = name, name, None

    def contribute_to_class(self, cls, name):
        self.name, self.attname, self.model = name, name, cls
        setattr(cls, name, self.descriptor_class(self))


for _name in READ_PATH:
    if _name != "descriptor_class":
        setattr(Field, _name, lambda self, *args: None)


class DateTimeField(Field):
    def value_to_string(self, obj):
        return "text"

    def to_python(self, value):
        return value


KINDS = {DateTimeField: "datetime"}


def subclass(**attributes):
    return type("Custom", (DateTimeField,), attributes)


def on_model(field):
    model = type("Model", (), {})
    field.contribute_to_class(model, "moment")
    return field


def test_the_parent_itself_and_a_plain_subclass_are_written_alike():
    assert kind_of(on_model(DateTimeField()), KINDS) == "datetime"
    assert kind_of(on_model(subclass()()), KINDS) == "datetime"
    assert kind_of(on_model(type("Deeper", (subclass(),), {})()), KINDS) == "datetime"


@pytest.mark.parametrize("name", [n for n in READ_PATH if n != "descriptor_class"])
def test_a_subclass_overriding_any_method_of_the_read_path_goes_to_django(name):
    field = on_model(subclass(**{name: lambda self, *args: "other"})())
    with pytest.raises(Unsupported) as info:
        kind_of(field, KINDS)
    assert str(info.value) == f"moment is a Custom that overrides {name}"


def test_a_subclass_with_its_own_descriptor_class_goes_to_django():
    class Other(Descriptor):
        pass

    with pytest.raises(Unsupported, match="^moment is a Custom that overrides descriptor_class$"):
        kind_of(on_model(subclass(descriptor_class=Other)()), KINDS)


def test_what_loaddata_alone_calls_changes_nothing_of_the_dump():
    field = subclass(to_python=lambda self, v: v, get_prep_value=lambda self, v: v, formfield=lambda self: None)()
    assert kind_of(on_model(field), KINDS) == "datetime"


def test_a_mixin_after_the_parent_that_adds_a_converter_is_seen():
    # Python resolves from_db_value to the mixin when the parent does not define it: the subclass is not its parent
    class Base:
        descriptor_class = Descriptor

    class Parent(Base):
        pass

    class Converting:
        def from_db_value(self, value, expression, connection):
            return value

    class Custom(Parent, Converting):
        pass

    field = Custom()
    field.name = "moment"
    with pytest.raises(Unsupported, match="overrides from_db_value"):
        kind_of(field, {Parent: "datetime"})


def test_all_overrides_are_named_in_read_order():
    field = on_model(subclass(value_to_string=lambda self, obj: "", from_db_value=lambda self, *a: None)())
    with pytest.raises(Unsupported, match="^moment is a Custom that overrides from_db_value, value_to_string$"):
        kind_of(field, KINDS)


def test_a_method_set_on_the_instance_counts_too():
    field = on_model(DateTimeField())
    field.value_to_string = lambda obj: "other"
    with pytest.raises(Unsupported, match="^moment is a DateTimeField that overrides value_to_string$"):
        kind_of(field, KINDS)


def test_what_a_cached_property_keeps_on_the_instance_is_no_override():
    # Field.cached_col caches itself on the instance once a query used the field: the same field after a query
    from django.utils.functional import cached_property

    class Cached(DateTimeField):
        @cached_property
        def cached_col(self):
            return "col"

    kinds = {Cached: "datetime"}
    field = on_model(type("Custom", (Cached,), {})())
    assert field.cached_col == "col" and "cached_col" in vars(field)
    assert kind_of(field, kinds) == "datetime"


def test_a_descriptor_installed_by_contribute_to_class_goes_to_django():
    class Wrapping(Descriptor):
        """Writes what it is given otherwise (SplitField's SplitDescriptor keeps a SplitText)."""

    class Custom(DateTimeField):
        def contribute_to_class(self, cls, name):
            super().contribute_to_class(cls, name)
            setattr(cls, name, Wrapping(self))

    with pytest.raises(Unsupported, match="^moment is a Custom read through a Wrapping$"):
        kind_of(on_model(Custom()), KINDS)


def test_a_plain_class_attribute_of_the_same_name_changes_nothing():
    # Django 3.2's AbstractBaseUser has is_active = True: the field installs no descriptor, the instance's value wins
    model = type("Model", (), {"moment": True})
    field = DateTimeField()
    field.model = model
    assert kind_of(field, KINDS) == "datetime"
    # a descriptor that only reads (no __set__) is shadowed by the instance's value too
    model.moment = type("Reading", (), {"__get__": lambda self, obj, owner: "other"})()
    assert kind_of(field, KINDS) == "datetime"


def test_a_field_with_no_known_ancestor_goes_to_django():
    with pytest.raises(Unsupported, match="^moment is a Field$"):
        kind_of(on_model(Field()), KINDS)
    with pytest.raises(Unsupported, match="^moment is an Other$"):
        kind_of(on_model(type("Other", (Field,), {})()), KINDS)


# -- Django's classes, and django-model-utils' ---------------------------------------------------------------------


@pytest.fixture
def model_utils_fields():
    """django-model-utils' fields module: it reads a setting as it is imported."""
    from django.conf import settings

    if not settings.configured:
        settings.configure()
    from model_utils import fields

    return fields


def test_djangos_own_subclasses_keep_their_own_kind():
    from django.db import models

    kinds = field_kinds()
    # the nearest known class wins: an EmailField is text, a BigAutoField an int, a OneToOneField a reference
    assert kind_of(models.EmailField(name="e"), kinds) == "text"
    assert kind_of(models.BigAutoField(name="id"), kinds) == "int"
    assert kind_of(models.DateTimeField(name="d"), kinds) == "datetime"
    assert kind_of(models.DateField(name="d"), kinds) == "date"


def test_model_utils_fields_that_inherit_the_read_path_take_the_fast_path(model_utils_fields):
    fields = model_utils_fields
    kinds = field_kinds()
    assert kind_of(fields.AutoCreatedField(name="created"), kinds) == "datetime"
    assert kind_of(fields.AutoLastModifiedField(name="modified"), kinds) == "datetime"
    assert kind_of(fields.MonitorField(name="changed", monitor="status"), kinds) == "datetime"
    assert kind_of(fields.StatusField(name="status"), kinds) == "text"
    assert kind_of(fields.UUIDField(name="id"), kinds) == "uuid"


def test_model_utils_split_field_goes_to_django(model_utils_fields):
    with pytest.raises(Unsupported, match="^body is a SplitField that overrides value_to_string$"):
        kind_of(model_utils_fields.SplitField(name="body"), field_kinds())
