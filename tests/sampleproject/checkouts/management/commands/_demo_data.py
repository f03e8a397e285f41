"""Shared vocabulary for the sample data commands (deterministic, realistic shapes)."""

import datetime
import random

AIRCRAFT_TYPES = ["C-185", "C-206", "C-208", "Kodiak", "PC-6", "GA8", "Twin Otter", "C-182"]

# (ident, name, position, is_base)
AIRSTRIPS = [
    ("WAMM", "Sentani", "-2.5769, 140.5164", True),
    ("WABB", "Wamena", "-4.1025, 138.9570", True),
    ("WAVV", "Nabire", "-3.3682, 135.4960", True),
    ("WX01", "Bokondini", "-3.6825, 138.6767", False),
    ("WX02", "Mulia", "-3.7018, 137.9570", False),
    ("WX03", "Ilaga", "-3.9770, 137.6225", False),
    ("WX04", "Karubaga", "-3.6838, 138.4787", False),
    ("WX05", "Mamit", "-3.6153, 138.3460", False),
    ("WX06", "Bime", "-4.3330, 140.1360", False),
    ("WX07", "Oksibil", "-4.9071, 140.6277", False),
    ("WX08", "Kiwirok", "-4.6740, 140.7210", False),
    ("WX09", "Sugapa", "-3.7380, 137.0310", False),
    ("WX10", "Bilorai", "-3.8010, 137.1560", False),
    ("WX11", "Wunin", "-3.6680, 138.7470", False),
    ("WX12", "Kelila", "-3.7500, 138.6670", False),
    ("WX13", "Tiom", "-3.9256, 138.4558", False),
    ("WX14", "Pagai", "-3.3330, 139.6330", False),
    ("WX15", "Mokndoma", "-3.8500, 138.8000", False),
]

FIRST_NAMES = ["Anna", "Ben", "Carla", "Dirk", "Esther", "Frank", "Grace", "Hans", "Ines", "Jonas", "Kari", "Luis"]
LAST_NAMES = ["Keller", "Smith", "Yikwa", "Wenda", "Bauer", "Tabuni", "Jones", "Kogoya", "Meyer", "Wonda"]

_WORDS = (
    "approach departure runway slope upslope downslope grass gravel threshold go-around crosswind cloud base "
    "ridge valley ferry cargo passengers medevac fuel drums weight balance density altitude wet dry soft "
    "checkride instructor supervised solo captain briefed recurrent currency satisfactory morning afternoon "
    "turbulence visibility windsock village mission strip orientation landmarks escape route abort point"
).split()


def note(rng: random.Random, min_words: int = 12, max_words: int = 60) -> str:
    """A plausible free-text checkout note."""
    words = rng.choices(_WORDS, k=rng.randint(min_words, max_words))
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def stamp(day: datetime.date, rng: random.Random) -> datetime.datetime:
    """A TimeStampedModel's created/modified for a row of that day: a time of day to the microsecond (as now() gives
    them), in UTC, so that seeding is deterministic and the fixtures carry every digit of a real site's times."""
    start = datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.timezone.utc)
    return start + datetime.timedelta(microseconds=rng.randrange(86_400_000_000))
