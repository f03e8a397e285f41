"""The fixtures' time format: what the helper writes must load back to a value it writes the same way.

Format 3 (today's) keeps every microsecond, so a loaded value is the value dumped; formats 1-2 (the proofs of older
archives) cut to the millisecond, value first."""

import datetime
import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.dateparse import parse_datetime, parse_time

from checkniner_backup.django_helper.serializer import encoder_class

UTC = datetime.timezone.utc
MICROS = [0, 1, 500, 999, 1000, 1500, 123000, 123456, 999999]


@pytest.fixture(scope="module")
def exact():
    return encoder_class(3)


@pytest.fixture(scope="module")
def legacy():
    return encoder_class(2)


@pytest.mark.parametrize("micro", MICROS)
def test_datetimes_load_back_exactly(exact, micro):
    value = datetime.datetime(2026, 11, 24, 3, 32, 48, micro, tzinfo=UTC)
    written = json.dumps(value, cls=exact)
    assert parse_datetime(json.loads(written)) == value
    assert written == json.dumps(value.isoformat().replace("+00:00", "Z"))


@pytest.mark.parametrize("micro", MICROS)
def test_times_load_back_exactly(exact, micro):
    value = datetime.time(12, 0, 1, micro)
    written = json.dumps(value, cls=exact)
    assert parse_time(json.loads(written)) == value


def test_naive_datetimes_and_other_offsets_keep_their_own_offset(exact):
    naive = datetime.datetime(2026, 3, 29, 2, 30, 0, 7)
    assert json.loads(json.dumps(naive, cls=exact)) == "2026-03-29T02:30:00.000007"
    paris = datetime.datetime(2026, 7, 1, 12, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert json.loads(json.dumps(paris, cls=exact)) == "2026-07-01T12:00:00+02:00"


def test_aware_times_are_refused_as_django_refuses_them(exact):
    with pytest.raises(ValueError):
        json.dumps(datetime.time(12, 0, tzinfo=UTC), cls=exact)


@pytest.mark.parametrize("micro", MICROS)
def test_legacy_formats_reproduce_themselves_after_loading(legacy, micro):
    value = datetime.datetime(2026, 11, 24, 3, 32, 48, micro, tzinfo=UTC)
    written = json.dumps(value, cls=legacy)
    loaded = parse_datetime(json.loads(written))
    assert loaded == value.replace(microsecond=micro - micro % 1000)  # milliseconds, as dumpdata keeps them
    assert json.dumps(loaded, cls=legacy) == written


def test_legacy_formats_are_dumpdata_bytes_wherever_dumpdata_reproduces_itself(legacy):
    for micro in (0, 1000, 123000, 123456):
        value = datetime.datetime(2026, 1, 2, 3, 4, 5, micro, tzinfo=UTC)
        assert json.dumps(value, cls=legacy) == json.dumps(value, cls=DjangoJSONEncoder)
    # where it does not, the value is the one dumpdata's text loads as, written once for all
    odd = datetime.datetime(2026, 1, 2, 3, 4, 5, 500, tzinfo=UTC)
    assert json.dumps(odd, cls=DjangoJSONEncoder) == '"2026-01-02T03:04:05.000Z"'
    assert json.dumps(odd, cls=legacy) == '"2026-01-02T03:04:05Z"'
