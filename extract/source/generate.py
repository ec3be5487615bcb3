"""The sample source: a Greek retail chain's OLTP database, dirty on purpose.

`init_source` fills the five tables of `extract.source.schema` with two years
of history before an as-of instant; `simulate` moves the business forward day
by day, inserting and updating rows the way the production source does, so an
incremental extract finds new keys and new versions of old keys.

Every draw comes from `random.Random` instances seeded from the arguments
(`init_source`) or from the database's own state (`simulate`): the same inputs
give the same rows.

Dirty data (contract section 1) is planted at the rates below. `init_source`
makes each rate an exact share of its rows (at least one row each, so every
defect exists even at a tiny scale); `simulate` draws new rows at the same
rates. Duplicate versions of a key come from `simulate`'s updates.
"""

from __future__ import annotations

import csv
import io
import math
import random
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate
from operator import itemgetter
from typing import Any, NamedTuple, Protocol

import sqlalchemy as sa

from extract.source import schema

# --- Volumes at scale 1 (they grow linearly with scale; stores stay 5) -------
BASE_CUSTOMERS = 10_000
BASE_PRODUCTS = 500
BASE_ORDERS = 50_000
# Floors that keep a fractional test scale meaningful.
MIN_CUSTOMERS = 50
MIN_PRODUCTS = 40
MIN_ORDERS = 250
HISTORY_DAYS = 730
ONLINE_SHARE = 0.25

# --- Dirty data (shares of customers, products or orders) -------------------
# Customer emails, mutually exclusive: missing, failing the contract's regex,
# mixed case (valid once lower-cased), padded with spaces (valid once trimmed).
EMAIL_NULL_RATE = 0.03
EMAIL_INVALID_RATE = 0.01
EMAIL_MIXED_CASE_RATE = 0.04
EMAIL_PADDED_RATE = 0.02
PHONE_NULL_RATE = 0.05
# First name, last name or both with surrounding spaces.
CUSTOMER_NAME_PADDED_RATE = 0.02
# Products, mutually exclusive.
PRODUCT_CODE_LOWER_RATE = 0.03
PRODUCT_NAME_PADDED_RATE = 0.02
PRODUCT_ZERO_PRICE_RATE = 0.01
# Orders, mutually exclusive; the line defects hit one line of the order.
NEGATIVE_SHIPPING_RATE = 0.005
DISCOUNT_OVER_100_RATE = 0.003
BAD_QUANTITY_RATE = 0.004  # a line with quantity 0 or below
MISSING_PRODUCT_RATE = 0.002  # a line whose product_id is in no products row
SUSPICIOUS_ORDER_RATE = 0.0005  # a bulk order, net above the 10,000 default threshold
# Orders whose customer row is inserted after the order (created_at and
# last_modified later than the order's last_modified).
LATE_CUSTOMER_RATE = 0.001

# --- Daily change rates of `simulate` (shares of current rows per day) -------
NEW_CUSTOMER_DAILY_RATE = 0.003
MOVE_DAILY_RATE = 0.0005
EMAIL_CHANGE_DAILY_RATE = 0.0003
TIER_CHANGE_DAILY_RATE = 0.0005
DEACTIVATION_DAILY_RATE = 0.0001
PRICE_CHANGE_DAILY_RATE = 0.002
RETURN_DAILY_RATE = 0.0015  # of orders delivered in the last 30 days
# One new customer every third calendar day places an order before its row
# is inserted (next simulated day, or at the end of the run).
LATE_CUSTOMER_EVERY_DAYS = 3

_CHUNK_ORDERS = 20_000
_BULK_NET_CENTS = 2_100_000  # gross of a bulk order: above 10,000 even at 50% off
_FREE_SHIPPING_CENTS = 4_900
_RETURN_WINDOW = timedelta(days=30)
_RATE_WINDOW_DAYS = 28
_BUYER_POOL_WINDOW = timedelta(days=365)
_POPULARITY_WINDOW = timedelta(days=90)
_OPEN_STATUSES = ("Pending", "Processing", "Shipped")
_TIERS = ("Bronze", "Silver", "Gold", "Platinum")


class SourceExistsError(Exception):
    """The target database already holds source rows and force was not given."""


# --- Small helpers -----------------------------------------------------------


class _Choice:
    """A weighted choice that is cheaper than `Random.choices` in hot loops."""

    def __init__(self, values: Sequence[Any], weights: Sequence[float]) -> None:
        self.values = tuple(values)
        self.cum = tuple(accumulate(weights))

    def __call__(self, rng: random.Random) -> Any:
        return self.values[bisect_right(self.cum, rng.random() * self.cum[-1])]


def _stochastic_round(rng: random.Random, value: float) -> int:
    whole = math.floor(value)
    return whole + (rng.random() < value - whole)


def _exact_defects(rng: random.Random, n: int, rates: dict[str, float]) -> list[str | None]:
    """Per row, the defect it gets: each kind on an exact share of rows, at least one."""
    kinds: list[str | None] = [None] * n
    wanted = [(kind, max(1, round(n * rate))) for kind, rate in rates.items()]
    chosen = iter(rng.sample(range(n), min(n, sum(k for _, k in wanted))))
    for kind, count in wanted:
        for _, row in zip(range(count), chosen, strict=False):
            kinds[row] = kind
    return kinds


def _random_defect(rng: random.Random, rates: dict[str, float]) -> str | None:
    draw = rng.random()
    for kind, rate in rates.items():
        if draw < rate:
            return kind
        draw -= rate
    return None


def _seconds(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(seconds=rng.uniform(low, high))


def _between(rng: random.Random, low: datetime, high: datetime) -> datetime:
    return low + (high - low) * rng.random()


def _pad(rng: random.Random, text: str) -> str:
    # Spaces only: Spark's trim() removes spaces, not tabs.
    return rng.choice((f" {text}", f"{text} ", f"  {text}  "))


_EMAIL_DEFECTS = {
    "null": EMAIL_NULL_RATE,
    "invalid": EMAIL_INVALID_RATE,
    "mixed_case": EMAIL_MIXED_CASE_RATE,
    "padded": EMAIL_PADDED_RATE,
}
_PHONE_DEFECTS = {"null": PHONE_NULL_RATE}
_NAME_DEFECTS = {"padded": CUSTOMER_NAME_PADDED_RATE}
_PRODUCT_DEFECTS = {
    "lower_code": PRODUCT_CODE_LOWER_RATE,
    "padded_name": PRODUCT_NAME_PADDED_RATE,
    "zero_price": PRODUCT_ZERO_PRICE_RATE,
}
_ORDER_DEFECTS = {
    "negative_shipping": NEGATIVE_SHIPPING_RATE,
    "discount_over_100": DISCOUNT_OVER_100_RATE,
    "bad_quantity": BAD_QUANTITY_RATE,
    "missing_product": MISSING_PRODUCT_RATE,
    "bulk": SUSPICIOUS_ORDER_RATE,
}

# --- Reference data: people and places --------------------------------------

# fmt: off
# Tables of reference data, laid out to be read as tables.
_MALE_NAMES = (
    "Georgios", "Giorgos", "Dimitrios", "Konstantinos", "Ioannis", "Nikolaos", "Panagiotis",
    "Vasileios", "Christos", "Athanasios", "Michail", "Evangelos", "Spyridon", "Antonios",
    "Andreas", "Theodoros", "Emmanouil", "Ilias", "Petros", "Stavros", "Alexandros",
    "Charalampos", "Kyriakos", "Anastasios", "Apostolos", "Sotirios", "Stylianos", "Thomas",
    "Leonidas", "Fotios", "Gerasimos", "Manolis", "Nikos", "Kostas", "Yannis", "Takis",
)
_FEMALE_NAMES = (
    "Maria", "Eleni", "Aikaterini", "Vasiliki", "Sofia", "Angeliki", "Georgia", "Dimitra",
    "Konstantina", "Paraskevi", "Anastasia", "Christina", "Ioanna", "Evangelia", "Panagiota",
    "Zoi", "Despoina", "Eirini", "Kalliopi", "Athina", "Foteini", "Theodora", "Stavroula",
    "Alexandra", "Chrysoula", "Marina", "Niki", "Anna", "Efthymia", "Magdalini", "Katerina",
    "Elena", "Myrto", "Danai", "Artemis",
)
# Male forms; the female form follows the usual Greek endings (_female_surname).
_SURNAMES = (
    "Papadopoulos", "Nikolaidis", "Georgiou", "Papadakis", "Oikonomou", "Pappas", "Vlachos",
    "Makris", "Konstantinidis", "Ioannou", "Karagiannis", "Dimitriou", "Papanikolaou",
    "Christodoulou", "Antoniou", "Alexiou", "Triantafyllou", "Athanasiou", "Panagiotopoulos",
    "Georgiadis", "Papageorgiou", "Michailidis", "Kyriakou", "Theodorou", "Stavropoulos",
    "Mavridis", "Angelopoulos", "Katsaros", "Petridis", "Apostolou", "Lamprou", "Vasileiou",
    "Tsakiris", "Manolakis", "Sideris", "Galanis", "Chatzis", "Kontos", "Marinos", "Raptis",
    "Zervas", "Anagnostou", "Kalogeropoulos", "Daskalakis", "Spanos", "Douka", "Floros",
    "Karalis", "Kouris", "Tsoukalas", "Xenakis", "Bakirtzis", "Giannakopoulos", "Moraitis",
)
_FEMALE_ENDINGS = (
    ("opoulos", "opoulou"), ("idis", "idou"), ("akis", "aki"),
    ("os", "ou"), ("is", "i"), ("as", "a"),
)
_EMAIL_DOMAIN = _Choice(
    ("gmail.com", "yahoo.gr", "hotmail.com", "outlook.com", "otenet.gr", "yahoo.com",
     "icloud.com", "windowslive.com", "live.com", "forthnet.gr"),
    (45, 12, 10, 8, 6, 6, 4, 3, 3, 3),
)
_STREETS = (
    "Ermou", "Eleftheriou Venizelou", "Agiou Dimitriou", "Kolokotroni", "Karaiskaki", "Miaouli",
    "Kanari", "Papaflessa", "Athinas", "Dimokratias", "Ethnikis Antistaseos", "Agias Sofias",
    "Tsimiski", "Egnatias", "Patision", "Stadiou", "Akadimias", "Vasilissis Sofias",
    "Leoforos Kifisias", "Leoforos Syngrou", "Alexandrou Papanastasiou", "Maizonos",
    "Korinthou", "Agiou Nikolaou", "Ikarou", "28is Oktovriou", "25is Martiou",
    "Iroon Polytechniou", "Pindou", "Olympou", "Themistokleous", "Perikleous", "Aristotelous",
    "Platonos", "Solonos", "Kapodistriou", "Markou Botsari", "Thessalonikis", "Riga Feraiou",
)


class _City(NamedTuple):
    name: str
    postal_prefixes: tuple[str, ...]
    area_code: str  # landline prefix; a Greek number has 10 digits after +30
    weight: float
    store_id: int  # the physical store its residents shop at


_CITIES = (
    _City("Athens", ("104", "105", "106", "111", "112", "113", "114", "115", "116", "117"),
          "210", 30, 1),
    _City("Piraeus", ("185",), "210", 6, 1),
    _City("Peristeri", ("121",), "210", 4, 1),
    _City("Kallithea", ("176",), "210", 4, 1),
    _City("Glyfada", ("165", "166"), "210", 3, 1),
    _City("Marousi", ("151",), "210", 3, 1),
    _City("Chalandri", ("152",), "210", 3, 1),
    _City("Kifisia", ("145",), "210", 2, 1),
    _City("Nea Smyrni", ("171",), "210", 2, 1),
    _City("Chalkida", ("341",), "2221", 2, 1),
    _City("Lamia", ("351",), "2231", 2, 1),
    _City("Thessaloniki", ("544", "545", "546", "563", "564", "565"), "2310", 12, 2),
    _City("Kalamaria", ("551",), "2310", 3, 2),
    _City("Larissa", ("412", "413"), "2410", 3, 2),
    _City("Volos", ("382", "383"), "2421", 2, 2),
    _City("Ioannina", ("452", "453", "454"), "2651", 2, 2),
    _City("Kavala", ("654", "655"), "2510", 1.5, 2),
    _City("Serres", ("621",), "2321", 1.5, 2),
    _City("Katerini", ("601",), "2351", 1.5, 2),
    _City("Veria", ("591",), "2331", 1, 2),
    _City("Kozani", ("501",), "2461", 1, 2),
    _City("Trikala", ("421",), "2431", 1, 2),
    _City("Drama", ("661",), "2521", 1, 2),
    _City("Xanthi", ("671",), "2541", 1, 2),
    _City("Komotini", ("691",), "2531", 1, 2),
    _City("Alexandroupoli", ("681",), "2551", 1, 2),
    _City("Patras", ("262", "263", "264"), "2610", 5, 3),
    _City("Agrinio", ("301",), "2641", 1.5, 3),
    _City("Pyrgos", ("271",), "2621", 1, 3),
    _City("Aigio", ("251",), "2691", 0.8, 3),
    _City("Kalamata", ("241",), "2721", 1.5, 3),
    _City("Tripoli", ("221",), "2710", 1, 3),
    _City("Corfu", ("491",), "2661", 1, 3),
    _City("Heraklion", ("712", "713", "714"), "2810", 5, 4),
    _City("Chania", ("731",), "2821", 2, 4),
    _City("Rethymno", ("741",), "2831", 1, 4),
    _City("Rhodes", ("851",), "2241", 1.5, 4),
)
_CITY = _Choice(_CITIES, [c.weight for c in _CITIES])
# The source does not normalise country: Silver trims and upper-cases it.
_COUNTRY = _Choice(("Greece", "GR", "GREECE", "greece", " Greece ", "Hellas"), (80, 10, 4, 3, 2, 1))


class _Store(NamedTuple):
    code: str
    name: str
    channel: str
    city: str
    region: str
    opened: tuple[int, int, int]  # years before as-of, month, day


_STORES = (
    _Store("ATH01", "RetailNova Athens Ermou", "Physical", "Athens", "Attica", (11, 3, 14)),
    _Store("THE01", "RetailNova Thessaloniki Tsimiski", "Physical", "Thessaloniki",
           "Central Macedonia", (9, 10, 2)),
    _Store("PAT01", "RetailNova Patras Riga Feraiou", "Physical", "Patras", "Western Greece",
           (7, 5, 21)),
    _Store("HER01", "RetailNova Heraklion 25is Avgoustou", "Physical", "Heraklion", "Crete",
           (6, 6, 8)),
    _Store("WEB01", "RetailNova Online", "Online", "Athens", "Attica", (5, 9, 1)),
)
ONLINE_STORE_ID = 5
_PHYSICAL_STORE = _Choice((1, 2, 3, 4), (45, 27, 13, 15))
_OWN_STORE_SHARE = 0.85  # physical orders at the customer's nearest store

# --- Reference data: the catalogue -------------------------------------------


class _Category(NamedTuple):
    name: str
    code: str
    low_eur: float
    high_eur: float
    share: float  # of the catalogue
    popularity: float  # how often its products are bought
    brands: tuple[str, ...]
    items: tuple[str, ...]
    variants: tuple[str, ...]


_CATEGORIES = (
    _Category(
        "Electronics", "ELE", 15, 700, 12, 0.8,
        ("Olympus Tech", "Meltemi Audio", "Pelagos", "Voltaris", "Kypseli Digital"),
        ("Wireless Earbuds", "Bluetooth Speaker", "Smartwatch", "Action Camera",
         "Power Bank", "Noise-Cancelling Headphones", "10-inch Tablet", "Mechanical Keyboard",
         "Wireless Mouse", "USB-C Hub", "Smart LED Bulb", "Robot Vacuum"),
        ("Black", "White", "Silver", "Pro", "Lite", "2nd Gen"),
    ),
    _Category(
        "Home & Kitchen", "HOM", 4, 350, 16, 1.0,
        ("Aegean Home", "Kouzina", "Lefka Living", "Thermi", "Ammos"),
        ("Olive Wood Cutting Board", "Briki Coffee Pot", "Frappe Mixer", "Ceramic Dinner Set",
         "Non-stick Frying Pan", "Cotton Bath Towel", "Linen Bed Sheet Set", "Glass Storage Jars",
         "Espresso Machine", "Stand Mixer", "Electric Kettle", "Table Lamp"),
        ("Small", "Large", "Set of 4", "Blue", "Natural", "Grey"),
    ),
    _Category(
        "Clothing", "CLO", 8, 150, 18, 1.1,
        ("Meltemi Wear", "Kyma", "Ionian Threads", "Nisos", "Astra"),
        ("Linen Shirt", "Cotton T-Shirt", "Denim Jeans", "Summer Dress", "Knit Sweater",
         "Rain Jacket", "Leather Sandals", "Sneakers", "Swim Shorts", "Wool Scarf"),
        ("S", "M", "L", "XL", "Navy", "White", "Olive"),
    ),
    _Category(
        "Beauty & Personal Care", "BEA", 3, 60, 14, 1.4,
        ("Athena Beauty", "Mastiha Care", "Elia Naturals", "Thalassa Spa", "Kriti Botanics"),
        ("Olive Oil Soap", "Mastic Face Cream", "Sunscreen SPF50", "Shampoo", "Body Lotion",
         "Lip Balm", "Eau de Parfum", "Hand Cream", "Shower Gel"),
        ("50ml", "100ml", "250ml", "500ml", "Travel Size", "Unscented"),
    ),
    _Category(
        "Sports & Outdoors", "SPO", 6, 400, 10, 0.8,
        ("Poseidon Sport", "Olympia Active", "Taygetos Outdoor", "Marathon Gear", "Aris Fitness"),
        ("Yoga Mat", "Running Shoes", "Camping Tent", "Hiking Backpack", "Snorkel Set",
         "Beach Racket Set", "Dumbbell Pair", "Bicycle Helmet", "Water Bottle",
         "Fitness Tracker"),
        ("Red", "Black", "Blue", "2-person", "30L", "Junior"),
    ),
    _Category(
        "Toys & Games", "TOY", 5, 120, 10, 0.9,
        ("Pegasus Toys", "Paidi", "Argo Games", "Minoa Play", "Delfini Kids"),
        ("Wooden Puzzle", "Building Blocks", "Board Game", "Plush Dolphin", "Remote Control Car",
         "Art Set", "Science Kit", "Card Game", "Dollhouse"),
        ("Ages 3+", "Ages 6+", "Ages 8+", "Deluxe", "Mini"),
    ),
    _Category(
        "Books & Stationery", "BOO", 3, 45, 8, 1.0,
        ("Papyros Editions", "Alfa Books", "Grafi", "Biblos", "Stylo"),
        ("Greek Cookbook", "Island Travel Guide", "Mythology for Children", "A5 Notebook",
         "Fountain Pen", "Desk Planner", "Crime Novel", "Greek Phrasebook", "Colouring Book"),
        ("Hardcover", "Paperback", "Pocket Edition", "Lined", "Dotted"),
    ),
    _Category(
        "Gourmet & Deli", "GOU", 2, 40, 12, 1.6,
        ("Kriti Gourmet", "Mani Estates", "Thymari", "Kalamata Gold", "Pelion Farms"),
        ("Extra Virgin Olive Oil", "Thyme Honey", "Feta PDO", "Kalamata Olives", "Mountain Tea",
         "Aegina Pistachios", "Loukoumi", "Tsipouro", "Greek Coffee", "Fig Jam",
         "Graviera Cheese", "Ouzo"),
        ("250g", "500g", "1kg", "500ml", "750ml", "1L", "Organic"),
    ),
)
_CATEGORY = _Choice(_CATEGORIES, [c.share for c in _CATEGORIES])

# --- Reference data: how people buy ------------------------------------------

_SEASON = (0.9, 0.8, 0.9, 1.0, 0.95, 0.85, 0.85, 0.65, 0.9, 1.0, 1.3, 1.6)  # Jan..Dec
_PHYSICAL_WEEKDAY = (0.9, 1.0, 0.9, 1.05, 1.2, 1.45, 0.5)  # Mon..Sun, mean 1
_ONLINE_WEEKDAY = (1.1, 1.0, 1.0, 1.0, 0.9, 0.85, 1.15)
# Public holidays on fixed dates: the shops are shut, the web shop is not.
_SHOPS_CLOSED = {(1, 1), (1, 6), (3, 25), (5, 1), (8, 15), (10, 28), (12, 25), (12, 26)}
_PHYSICAL_HOUR = _Choice(range(9, 21), (3, 5, 7, 8, 8, 7, 7, 8, 9, 9, 7, 4))
_ONLINE_HOUR = _Choice(
    range(24),
    (2, 1, 1, 0.5, 0.5, 0.5, 1, 2, 3, 4, 5, 5, 6, 6, 5, 5, 5, 6, 7, 8, 9, 9, 7, 4),
)
_LINE_COUNT = _Choice((1, 2, 3, 4, 5), (30, 25, 20, 15, 10))  # mean 2.5
_QUANTITY = _Choice((1, 2, 3, 4, 5, 6), (68, 20, 7, 3, 1, 1))
_PAY_PHYSICAL = _Choice(("Credit Card", "Debit Card", "Cash"), (45, 35, 20))
_PAY_ONLINE = _Choice(
    ("Credit Card", "Debit Card", "PayPal", "Cash on Delivery", "Bank Transfer"),
    (45, 20, 20, 12, 3),
)
_DISCOUNT = _Choice((500, 1000, 1500, 2000, 2500, 3000, 4000, 5000), (25, 25, 15, 12, 8, 7, 4, 4))
_SHIPPING = _Choice((390, 490, 590), (60, 25, 15))
_WELCOME_ORDER_SHARE = 0.5  # new customers who register while placing their first order
_WELCOME_ONLINE_SHARE = 0.4

# fmt: on


def _day_weight(day: date) -> float:
    """Expected orders on a day relative to an average day."""
    physical = 0.0 if (day.month, day.day) in _SHOPS_CLOSED else _PHYSICAL_WEEKDAY[day.weekday()]
    online = _ONLINE_WEEKDAY[day.weekday()]
    return _SEASON[day.month - 1] * ((1 - ONLINE_SHARE) * physical + ONLINE_SHARE * online)


def _online_share(day: date) -> float:
    online = ONLINE_SHARE * _ONLINE_WEEKDAY[day.weekday()]
    return online / (_day_weight(day) / _SEASON[day.month - 1])


def _order_time(rng: random.Random, day_start: datetime, online: bool) -> datetime:
    hour = (_ONLINE_HOUR if online else _PHYSICAL_HOUR)(rng)
    return day_start + timedelta(hours=hour, seconds=rng.random() * 3600)


# --- People -------------------------------------------------------------------


def _female_surname(surname: str) -> str:
    for male, female in _FEMALE_ENDINGS:
        if surname.endswith(male):
            return surname[: -len(male)] + female
    return surname


def _email(rng: random.Random, first: str, last: str, birth_year: int) -> str:
    first, last = first.lower(), last.lower()
    local = rng.choice(
        (
            f"{first}.{last}",
            f"{first[0]}{last}",
            f"{last}.{first}",
            f"{first}{last}",
            f"{first}_{last[0]}",
        )
    )
    suffix = rng.choice(("", "", f"{birth_year % 100:02d}", str(rng.randint(1, 999))))
    return f"{local}{suffix}@{_EMAIL_DOMAIN(rng)}"


def _dirty_email(rng: random.Random, email: str, defect: str | None) -> str | None:
    if defect == "null":
        return None
    if defect == "mixed_case":
        return rng.choice((str.title, str.upper, str.capitalize))(email)
    if defect == "padded":
        return _pad(rng, email)
    if defect == "invalid":
        local, domain = email.split("@")
        return rng.choice(
            (
                f"{local}{domain}",  # no @
                f"{local}@{domain.split('.')[0]}",  # no top-level domain
                f"{local}@@{domain}",
                f"{local[:3]} {local[3:]}@{domain}",
                f"@{domain}",
            )
        )
    return email


def _phone(rng: random.Random, city: _City) -> str:
    if rng.random() < 0.8:
        digits = f"69{rng.choice('0345789')}{rng.randrange(10**7):07d}"
        return rng.choice(
            (
                f"+30 {digits[:3]} {digits[3:6]} {digits[6:]}",
                f"+30{digits}",
                digits,
            )
        )
    rest = 10 - len(city.area_code)
    return f"+30 {city.area_code} {rng.randrange(10**rest):0{rest}d}"


class _Place(NamedTuple):
    address: str
    city: str
    postal_code: str
    store_id: int


def _place(rng: random.Random) -> tuple[_Place, _City]:
    city = _CITY(rng)
    postal = f"{rng.choice(city.postal_prefixes)}{rng.randrange(100):02d}"
    place = _Place(
        f"{rng.choice(_STREETS)} {rng.randint(1, 220)}", city.name, postal, city.store_id
    )
    return place, city


class _Person(NamedTuple):
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    date_of_birth: date | None
    place: _Place
    country: str


def _person(rng: random.Random, today: date, defects: dict[str, str | None]) -> _Person:
    female = rng.random() < 0.52
    first = rng.choice(_FEMALE_NAMES if female else _MALE_NAMES)
    last = rng.choice(_SURNAMES)
    if female:
        last = _female_surname(last)
    age = int(rng.triangular(18, 85, 38))
    birth = date(today.year - age, rng.randint(1, 12), rng.randint(1, 28))
    place, city = _place(rng)
    email = _dirty_email(rng, _email(rng, first, last, birth.year), defects["email"])
    phone = None if defects["phone"] == "null" else _phone(rng, city)
    if defects["name"] == "padded":
        which = rng.randrange(3)
        first = _pad(rng, first) if which != 1 else first
        last = _pad(rng, last) if which != 0 else last
    dob = None if rng.random() < 0.03 else birth
    return _Person(first, last, email, phone, dob, place, _COUNTRY(rng))


def _person_defects(rng: random.Random) -> dict[str, str | None]:
    return {
        "email": _random_defect(rng, _EMAIL_DEFECTS),
        "phone": _random_defect(rng, _PHONE_DEFECTS),
        "name": _random_defect(rng, _NAME_DEFECTS),
    }


def _customer_row(
    customer_id: int,
    person: _Person,
    tier: str,
    active: bool,
    created: datetime,
    last_modified: datetime,
) -> tuple:
    place = person.place
    return (
        customer_id,
        person.first_name,
        person.last_name,
        person.email,
        person.phone,
        person.date_of_birth,
        place.address,
        place.city,
        place.postal_code,
        person.country,
        tier,
        active,
        created,
        last_modified,
    )


@dataclass
class _Customers:
    """The customer base of `init_source`; index i is customer_id i + 1."""

    created: list[datetime]  # sorted
    last_modified: list[datetime]
    people: list[_Person]
    tiers: list[str]
    active: list[bool]
    cum_weight: list[float]  # Pareto-like: a few customers buy a lot
    leaves_at: list[datetime | None]  # after this the customer buys no more
    first_order_modified: list[datetime | None]

    def pick(self, rng: random.Random, when: datetime) -> int:
        """A customer registered by `when`, weighted, preferring ones still buying."""
        known = bisect_right(self.created, when) or 1
        total = self.cum_weight[known - 1]
        for _ in range(4):
            index = bisect_right(self.cum_weight, rng.random() * total)
            leaves = self.leaves_at[index]
            if leaves is None or leaves > when:
                break
        return index

    def rows(self) -> list[tuple]:
        return [
            _customer_row(
                i + 1, person, self.tiers[i], self.active[i], self.created[i], self.last_modified[i]
            )
            for i, person in enumerate(self.people)
        ]


def _signup_times(rng: random.Random, n: int, start: datetime, as_of: datetime) -> list[datetime]:
    # Three in ten registered before the history window; signups then grow
    # with the business: over the window their density rises linearly from
    # 0.5 to 1.5 times the average (the inverse of its distribution function).
    before = max(1, round(n * 0.3))
    early = [_between(rng, start - timedelta(days=3 * 365), start) for _ in range(before)]
    window = as_of - start
    during = [
        start + window * (math.sqrt(0.25 + 2 * rng.random()) - 0.5) for _ in range(n - before)
    ]
    return sorted(early + during)


# Share of customers, best buyers first, up to which each tier is held.
_TIER_BY_RANK = ((0.05, "Platinum"), (0.17, "Gold"), (0.42, "Silver"), (1.0, "Bronze"))


def _tiers_by_weight(rng: random.Random, weights: list[float]) -> list[str]:
    ranked = sorted(range(len(weights)), key=weights.__getitem__, reverse=True)
    tiers = ["Bronze"] * len(weights)
    n = len(weights)
    for rank, index in enumerate(ranked):
        share = rank / n
        tier = next(name for top, name in _TIER_BY_RANK if share < top)
        tiers[index] = rng.choice(_TIERS) if rng.random() < 0.1 else tier
    return tiers


def _make_customers(rng: random.Random, n: int, start: datetime, as_of: datetime) -> _Customers:
    created = _signup_times(rng, n, start, as_of)
    email_defects = _exact_defects(rng, n, _EMAIL_DEFECTS)
    phone_defects = _exact_defects(rng, n, _PHONE_DEFECTS)
    name_defects = _exact_defects(rng, n, _NAME_DEFECTS)
    people = [
        _person(rng, as_of.date(), {"email": e, "phone": p, "name": m})
        for e, p, m in zip(email_defects, phone_defects, name_defects, strict=True)
    ]
    weights = [min(rng.paretovariate(1.5), 15.0) for _ in range(n)]
    leaves_at: list[datetime | None] = [
        c + timedelta(days=rng.expovariate(1 / 400)) if rng.random() < 0.45 else None
        for c in created
    ]
    last_modified = list(created)
    active = [True] * n
    for i, signed_up in enumerate(created):
        draw = rng.random()
        if draw < 0.03:  # closed their account: no purchases after that
            active[i] = False
            last_modified[i] = _between(rng, signed_up, as_of)
            leaves = leaves_at[i]
            leaves_at[i] = last_modified[i] if leaves is None else min(leaves, last_modified[i])
        elif draw < 0.25:  # edited their profile since signing up
            last_modified[i] = _between(rng, signed_up, as_of)
    return _Customers(
        created,
        last_modified,
        people,
        _tiers_by_weight(rng, weights),
        active,
        list(accumulate(weights)),
        leaves_at,
        [None] * n,
    )


def _delay_customers(
    rng: random.Random, customers: _Customers, n_orders: int, as_of: datetime
) -> None:
    """Make some customer rows arrive after their first order (LATE_CUSTOMER_RATE)."""
    candidates = [
        i
        for i, modified in enumerate(customers.first_order_modified)
        if modified is not None and as_of - modified > timedelta(minutes=2)
    ]
    wanted = min(len(candidates), max(1, round(n_orders * LATE_CUSTOMER_RATE)))
    for i in sorted(rng.sample(candidates, wanted)):
        order_modified = customers.first_order_modified[i]
        room = min(as_of - order_modified, timedelta(days=2)).total_seconds()
        arrived = order_modified + _seconds(rng, 60, room)
        customers.created[i] = arrived
        customers.last_modified[i] = max(arrived, customers.last_modified[i])


# --- Products -------------------------------------------------------------------


def _retail_price(rng: random.Random, euros: float) -> int:
    """Price in cents with a shop-like ending."""
    whole = max(1, int(euros))
    if whole >= 100:
        return (whole // 10 * 10 + 9) * 100 + rng.choice((0, 90))
    return whole * 100 + rng.choice((0, 50, 90, 99))


@dataclass
class _Catalog:
    """Products an order line can be drawn from (indices into the lists)."""

    ids: list[int]
    prices: list[int]  # cents
    cum_weight: list[float]
    available_from: list[datetime] | None = None  # sorted; None: all available
    retired_at: list[datetime | None] | None = None
    max_id: int = 0

    def pick(self, rng: random.Random, when: datetime) -> int:
        known = len(self.ids)
        if self.available_from is not None:
            known = bisect_right(self.available_from, when) or 1
        total = self.cum_weight[known - 1]
        for _ in range(3):
            index = bisect_right(self.cum_weight, rng.random() * total)
            retired = self.retired_at[index] if self.retired_at else None
            if retired is None or retired > when:
                break
        return index


def _make_products(
    rng: random.Random, n: int, start: datetime, as_of: datetime
) -> tuple[list[tuple], _Catalog]:
    # Most of the range predates the history window; the rest is launched in
    # it (never in the last week, so new products have time to sell).
    introduced = sorted(
        _between(rng, start - timedelta(days=3 * 365), start)
        if rng.random() < 0.7
        else _between(rng, start, as_of - timedelta(days=7))
        for _ in range(n)
    )
    defects = _exact_defects(rng, n, _PRODUCT_DEFECTS)
    rows, prices, weights, retired_at = [], [], [], []
    for i, (created, defect) in enumerate(zip(introduced, defects, strict=True)):
        category = _CATEGORY(rng)
        product_id = i + 1
        euros = math.exp(rng.uniform(math.log(category.low_eur), math.log(category.high_eur)))
        list_price = _retail_price(rng, euros)
        cost = round(list_price * rng.uniform(0.45, 0.7))
        price = 0 if defect == "zero_price" else list_price
        code = f"{category.code}-{product_id:05d}"
        brand = rng.choice(category.brands)
        name = f"{brand} {rng.choice(category.items)} {rng.choice(category.variants)}"
        active, retired, modified = True, None, created
        draw = rng.random()
        if draw < 0.04:
            active = False
            retired = modified = _between(rng, max(created, as_of - timedelta(days=180)), as_of)
        elif draw < 0.34:  # repriced since launch
            modified = _between(rng, created, as_of)
        rows.append(
            (
                product_id,
                code.lower() if defect == "lower_code" else code,
                _pad(rng, name) if defect == "padded_name" else name,
                category.name,
                brand,
                price,
                cost,
                active,
                created,
                modified,
            )
        )
        prices.append(price)
        weights.append(rng.paretovariate(1.4) * category.popularity)
        retired_at.append(retired)
    catalog = _Catalog(
        list(range(1, n + 1)), prices, list(accumulate(weights)), introduced, retired_at, n
    )
    return rows, catalog


# --- Orders ---------------------------------------------------------------------


def _lines(
    rng: random.Random,
    catalog: _Catalog,
    order_id: int,
    first_line_id: int,
    when: datetime,
    defect: str | None,
) -> list[tuple]:
    picked: list[int] = []
    for _ in range(_LINE_COUNT(rng)):
        for _attempt in range(3):  # an order lists each product once
            index = catalog.pick(rng, when)
            if index not in picked:
                picked.append(index)
                break
    line_defect = defect in ("bad_quantity", "missing_product", "bulk")
    odd = rng.randrange(len(picked)) if line_defect else -1
    lines = []
    for k, index in enumerate(picked):
        product_id, price, quantity = catalog.ids[index], catalog.prices[index], _QUANTITY(rng)
        if k == odd:
            if defect == "bad_quantity":
                quantity = rng.choice((0, -1, -1, -2))
            elif defect == "missing_product":
                product_id = catalog.max_id + rng.randint(1, 1000)
            else:  # bulk: the dearest of a few draws, enough of it to pass the threshold
                index = max(
                    (catalog.pick(rng, when) for _ in range(12)), key=catalog.prices.__getitem__
                )
                product_id, price = catalog.ids[index], catalog.prices[index]
                quantity = math.ceil(_BULK_NET_CENTS / price) if price > 0 else quantity
        lines.append((first_line_id + k, order_id, product_id, quantity, price, when, when))
    return lines


def _order(
    rng: random.Random,
    catalog: _Catalog,
    order_id: int,
    customer_id: int,
    store_id: int,
    when: datetime,
    status: tuple[str, datetime],
    first_line_id: int,
    defect: str | None,
) -> tuple[tuple, list[tuple]]:
    """An order row and its lines; `status` is its current status and last_modified."""
    online = store_id == ONLINE_STORE_ID
    lines = _lines(rng, catalog, order_id, first_line_id, when, defect)
    subtotal = sum(line[3] * line[4] for line in lines)
    shipping = _SHIPPING(rng) if online and subtotal < _FREE_SHIPPING_CENTS else 0
    if defect == "negative_shipping":
        shipping = -_SHIPPING(rng)
    discount = 0
    if rng.random() < (0.25 if online else 0.12) * (2 if when.month == 11 else 1):
        discount = _DISCOUNT(rng)
    if defect == "discount_over_100":
        discount = rng.choice((11000, 12000, 15000, 20000, 25000))
    payment = (_PAY_ONLINE if online else _PAY_PHYSICAL)(rng)
    row = (
        order_id,
        customer_id,
        store_id,
        when,
        status[0],
        payment,
        shipping,
        discount,
        when,
        status[1],
    )
    return row, lines


def _lifecycle(rng: random.Random, online: bool, placed: datetime) -> list[tuple[str, datetime]]:
    """Every status an order will go through, with when it gets there."""
    steps = [("Pending", placed)]
    if not online:  # paid at the till
        paid = placed + _seconds(rng, 5, 120)
        if rng.random() < 0.005:
            return [*steps, ("Cancelled", paid)]
        steps.append(("Delivered", paid))
        if rng.random() < 0.02:
            steps.append(("Returned", paid + _seconds(rng, 86_400, 14 * 86_400)))
        return steps
    processing = placed + _seconds(rng, 1_800, 12 * 3_600)
    if rng.random() < 0.03:
        return [*steps, ("Cancelled", processing)]
    steps.append(("Processing", processing))
    shipped = processing + _seconds(rng, 6 * 3_600, 2 * 86_400)
    if rng.random() < 0.01:
        return [*steps, ("Cancelled", shipped)]
    delivered = shipped + _seconds(rng, 86_400, 4 * 86_400)
    steps += [("Shipped", shipped), ("Delivered", delivered)]
    if rng.random() < 0.04:
        steps.append(("Returned", delivered + _seconds(rng, 2 * 86_400, 30 * 86_400)))
    return steps


def _status_at(steps: list[tuple[str, datetime]], as_of: datetime) -> tuple[str, datetime]:
    reached = [step for step in steps if step[1] <= as_of]
    return reached[-1]


def _daily_counts(
    rng: random.Random, n: int, start: datetime, as_of: datetime
) -> list[tuple[date, int]]:
    """Spread n orders over the days from start to as_of (seasons, weekdays, growth)."""
    days = [start.date() + timedelta(days=i) for i in range((as_of.date() - start.date()).days + 1)]
    last = len(days) - 1
    weights = []
    for i, day in enumerate(days):
        weight = _day_weight(day) * (0.8 + 0.4 * i / last) * rng.uniform(0.85, 1.15)
        if i == last:  # only part of the as-of day has happened
            weight *= (as_of - datetime.combine(day, time())) / timedelta(days=1)
        weights.append(weight)
    scale = n / sum(weights)
    # Rounding the running total keeps the sum exactly n.
    totals = [round(w * scale) for w in accumulate(weights)]
    return [
        (day, total - before)
        for day, total, before in zip(days, totals, [0, *totals], strict=False)
    ]


def _welcome_orders(
    rng: random.Random, customers: _Customers, start: datetime, as_of: datetime, limit: int
) -> dict[date, list[tuple[datetime, int]]]:
    """First orders placed while registering, by day."""
    welcome = [
        (signed_up + _seconds(rng, 30, 900), i)
        for i, signed_up in enumerate(customers.created)
        if signed_up >= start and rng.random() < _WELCOME_ORDER_SHARE
    ]
    welcome = [(when, i) for when, i in welcome if when <= as_of]
    if len(welcome) > limit:
        welcome = sorted(rng.sample(welcome, limit))
    by_day: dict[date, list[tuple[datetime, int]]] = {}
    for when, i in welcome:
        by_day.setdefault(when.date(), []).append((when, i))
    return by_day


def _history_orders(
    rng: random.Random,
    n_orders: int,
    customers: _Customers,
    catalog: _Catalog,
    start: datetime,
    as_of: datetime,
) -> Iterator[tuple[list, list]]:
    """The orders and lines of the history window in chunks, in order_date order."""
    welcome = _welcome_orders(rng, customers, start, as_of, n_orders // 5)
    n_welcome = sum(len(day) for day in welcome.values())
    defects = _exact_defects(rng, n_orders, _ORDER_DEFECTS)
    orders: list[tuple] = []
    lines: list[tuple] = []
    order_id = 0
    line_id = 1
    for day, count in _daily_counts(rng, n_orders - n_welcome, start, as_of):
        day_start = datetime.combine(day, time())
        online_share = _online_share(day)
        placed = []
        for _ in range(count):
            online = rng.random() < online_share
            when = _order_time(rng, day_start, online)
            if when > as_of:
                when = _between(rng, day_start, as_of)
            placed.append((when, online, -1))
        for when, i in welcome.get(day, ()):
            placed.append((when, rng.random() < max(_WELCOME_ONLINE_SHARE, online_share), i))
        for when, online, welcomed in sorted(placed):
            index = welcomed if welcomed >= 0 else customers.pick(rng, when)
            store_id = ONLINE_STORE_ID
            if not online:
                own = customers.people[index].place.store_id
                store_id = own if rng.random() < _OWN_STORE_SHARE else _PHYSICAL_STORE(rng)
            status = _status_at(_lifecycle(rng, online, when), as_of)
            order_id += 1
            row, order_lines = _order(
                rng,
                catalog,
                order_id,
                index + 1,
                store_id,
                when,
                status,
                line_id,
                defects[order_id - 1],
            )
            if customers.first_order_modified[index] is None:
                customers.first_order_modified[index] = status[1]
            orders.append(row)
            lines += order_lines
            line_id += len(order_lines)
            if len(orders) == _CHUNK_ORDERS:
                yield orders, lines
                orders, lines = [], []
    if orders:
        yield orders, lines


def _store_rows(as_of: datetime) -> list[tuple]:
    # Set up a month before the history starts, never touched since.
    modified = as_of - timedelta(days=HISTORY_DAYS + 30, hours=9)
    rows = []
    for store_id, store in enumerate(_STORES, start=1):
        years, month, day = store.opened
        rows.append(
            (
                store_id,
                store.code,
                store.name,
                store.channel,
                store.city,
                store.region,
                date(as_of.year - years, month, day),
                True,
                modified,
            )
        )
    return rows


# --- Writing -----------------------------------------------------------------------


def _iso_timestamp(value: datetime) -> str:
    # SQLAlchemy's SQLite DateTime format: always six fractional digits.
    return value.isoformat(" ", "microseconds")


def _cents_to_float(cents: int) -> float:
    # What SQLAlchemy's Numeric binds on SQLite; it reads back as a 2-decimal Decimal.
    return cents / 100


def _cents_to_text(cents: int) -> str:
    return f"{cents / 100:.2f}"


def _cents_to_decimal(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


_Converters = dict[str, Callable[[Any], Any]]
# Keyed by schema.SourceColumn.family; money travels as integer cents until here.
_SQLITE_VALUES: _Converters = {
    "timestamp": _iso_timestamp,
    "date": date.isoformat,
    "bool": int,
    "decimal": _cents_to_float,
}
_COPY_VALUES: _Converters = {
    "timestamp": _iso_timestamp,
    "date": date.isoformat,
    "bool": lambda v: "t" if v else "f",
    "decimal": _cents_to_text,
}
_CORE_VALUES: _Converters = {"decimal": _cents_to_decimal}


def _convert(table: sa.Table, rows: list[tuple], converters: _Converters) -> list[tuple]:
    # Column by column: one converter lookup per column, not per value.
    columns = []
    for i, column in enumerate(schema.source_columns(table)):
        values = list(map(itemgetter(i), rows))
        convert = converters.get(column.family)
        if convert is not None:
            values = [None if v is None else convert(v) for v in values]
        columns.append(values)
    return list(zip(*columns, strict=True))


class _Writer(Protocol):
    def write(self, table: sa.Table, rows: list[tuple]) -> None: ...


class _SqliteWriter:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def write(self, table: sa.Table, rows: list[tuple]) -> None:
        if rows:
            dialect = self._conn.dialect
            names = ", ".join(_quoted_columns(dialect, table))
            marks = ", ".join("?" * len(table.columns))
            sql = f"INSERT INTO {_quoted_table(dialect, table)} ({names}) VALUES ({marks})"
            self._conn.exec_driver_sql(sql, _convert(table, rows, _SQLITE_VALUES))


class _CopyWriter:
    """PostgreSQL: COPY FROM STDIN in CSV, through psycopg2."""

    def __init__(self, cursor: Any, dialect: sa.Dialect) -> None:
        self._cursor = cursor
        self._dialect = dialect

    def write(self, table: sa.Table, rows: list[tuple]) -> None:
        buffer = io.StringIO()
        # csv writes None as an empty unquoted field, which COPY reads as NULL;
        # the generator never produces empty strings, so nothing is ambiguous.
        csv.writer(buffer, lineterminator="\n").writerows(_convert(table, rows, _COPY_VALUES))
        buffer.seek(0)
        names = ", ".join(_quoted_columns(self._dialect, table))
        self._cursor.copy_expert(
            f"COPY {_quoted_table(self._dialect, table)} ({names}) FROM STDIN WITH (FORMAT csv)",
            buffer,
        )


class _CoreWriter:
    """Any other database: SQLAlchemy executemany (pyodbc engines created with
    fast_executemany=True use it)."""

    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def write(self, table: sa.Table, rows: list[tuple]) -> None:
        names = [c.name for c in table.columns]
        converted = _convert(table, rows, _CORE_VALUES)
        for at in range(0, len(converted), 10_000):
            batch = [dict(zip(names, row, strict=True)) for row in converted[at : at + 10_000]]
            self._conn.execute(table.insert(), batch)


def _quoted_table(dialect: sa.Dialect, table: sa.Table) -> str:
    return dialect.identifier_preparer.format_table(table)


def _quoted_columns(dialect: sa.Dialect, table: sa.Table) -> list[str]:
    return [dialect.identifier_preparer.quote(c.name) for c in table.columns]


@contextmanager
def _bulk_writer(engine: sa.Engine) -> Iterator[_Writer]:
    """A writer whose rows are committed together when the block ends."""
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg2":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            yield _CopyWriter(cursor, engine.dialect)
            cursor.close()
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        finally:
            raw.close()
        return
    with engine.begin() as conn:
        yield _SqliteWriter(conn) if engine.dialect.name == "sqlite" else _CoreWriter(conn)


# --- init_source --------------------------------------------------------------------


@dataclass(frozen=True)
class _Volumes:
    customers: int
    products: int
    orders: int

    @classmethod
    def at(cls, scale: float) -> _Volumes:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        return cls(
            max(MIN_CUSTOMERS, round(BASE_CUSTOMERS * scale)),
            max(MIN_PRODUCTS, round(BASE_PRODUCTS * scale)),
            max(MIN_ORDERS, round(BASE_ORDERS * scale)),
        )


def _reset_tables(engine: sa.Engine, force: bool) -> None:
    present = set(sa.inspect(engine).get_table_names())
    with engine.connect() as conn:
        filled = [
            t.name
            for t in schema.TABLES
            if t.name in present
            and conn.execute(sa.select(sa.literal(1)).select_from(t).limit(1)).first()
        ]
    if filled and not force:
        where = engine.url.render_as_string(hide_password=True)
        raise SourceExistsError(
            f"the source database {where} already holds rows in {', '.join(filled)}; "
            "pass --force to drop and recreate its tables"
        )
    # Also when empty: an older run may have left tables of another shape.
    schema.metadata.drop_all(engine, tables=list(schema.TABLES))
    schema.metadata.create_all(engine, tables=list(schema.TABLES))


def init_source(
    engine: sa.Engine,
    *,
    scale: float = 1.0,
    seed: int = 42,
    as_of: datetime | None = None,
    force: bool = False,
    progress: Callable[[str], None] = lambda msg: None,
) -> dict[str, int]:
    """Create the five tables of schema.metadata and fill them; returns rows per table."""
    volumes = _Volumes.at(scale)
    as_of = as_of if as_of is not None else datetime.now().replace(microsecond=0)
    start = datetime.combine(as_of.date() - timedelta(days=HISTORY_DAYS), time())
    _reset_tables(engine, force)

    # One generator per concern, so changing one does not reshuffle the others.
    def rng(part: str) -> random.Random:
        return random.Random(f"{seed}:{part}")

    product_rows, catalog = _make_products(rng("products"), volumes.products, start, as_of)
    customers = _make_customers(rng("customers"), volumes.customers, start, as_of)
    counts = dict.fromkeys(schema.TABLE_NAMES, 0)
    with _bulk_writer(engine) as writer:
        stores = _store_rows(as_of)
        writer.write(schema.stores, stores)
        writer.write(schema.products, product_rows)
        counts.update(stores=len(stores), products=len(product_rows))
        progress(f"stores: {len(stores)} rows, products: {len(product_rows)} rows")
        for orders, lines in _history_orders(
            rng("orders"), volumes.orders, customers, catalog, start, as_of
        ):
            writer.write(schema.sales_orders, orders)
            writer.write(schema.sales_order_lines, lines)
            counts["sales_orders"] += len(orders)
            counts["sales_order_lines"] += len(lines)
            progress(f"sales_orders: {counts['sales_orders']}/{volumes.orders} rows")
        # Written last: which customers arrive late depends on their orders.
        _delay_customers(rng("late"), customers, volumes.orders, as_of)
        customer_rows = customers.rows()
        writer.write(schema.customers, customer_rows)
        counts["customers"] = len(customer_rows)
        progress(f"customers: {len(customer_rows)} rows")
    return counts


# --- simulate ----------------------------------------------------------------------

_TRANSITION = {
    "Pending": _Choice(("Processing", "Cancelled", None), (85, 5, 10)),
    "Processing": _Choice(("Shipped", "Cancelled", None), (75, 2, 23)),
    "Shipped": _Choice(("Delivered", None), (55, 45)),
}
_BUYER_FROM_HISTORY = 0.8  # the rest are drawn uniformly: dormant customers come back


@dataclass
class _Business:
    """The state of the source that simulate works from, kept current day by day."""

    clock: datetime  # max(last_modified) over the five tables
    max_ids: dict[str, int]
    customer_count: int
    inactive: set[int]
    catalog: _Catalog  # active products, weighted by recent sales
    open_orders: dict[int, str]  # order_id -> status
    delivered: dict[int, datetime]  # order_id -> delivered at, for returns
    buyers: list[int]  # the customer of every order of the last year
    daily_orders: dict[date, int]
    # Customers whose first order is in, waiting to be inserted on the next day.
    late: list[tuple[int, _Person, datetime]] = field(default_factory=list)


def _load_business(conn: sa.Connection) -> _Business:
    maxima, stamps = {}, []
    for table in schema.TABLES:
        key = table.c[schema.primary_key(table)]
        top_key, top_stamp = conn.execute(
            sa.select(sa.func.max(key), sa.func.max(table.c.last_modified))
        ).one()
        maxima[table.name] = top_key or 0
        if top_stamp is not None:
            stamps.append(top_stamp)
    if not stamps:
        raise ValueError("the source is empty: create it with init_source first")
    clock = max(stamps)
    c, p, o, ln = (schema.customers, schema.products, schema.sales_orders, schema.sales_order_lines)
    sales = dict(
        conn.execute(
            sa.select(ln.c.product_id, sa.func.count())
            .where(ln.c.created_at >= clock - _POPULARITY_WINDOW)
            .group_by(ln.c.product_id)
        ).all()
    )
    products = conn.execute(
        sa.select(p.c.product_id, p.c.unit_price).where(p.c.is_active).order_by(p.c.product_id)
    ).all()
    recent_days = conn.execute(
        sa.select(o.c.order_date).where(
            o.c.order_date
            >= datetime.combine(clock.date(), time()) - timedelta(days=_RATE_WINDOW_DAYS)
        )
    ).scalars()
    daily: dict[date, int] = {}
    for placed in recent_days:
        daily[placed.date()] = daily.get(placed.date(), 0) + 1
    return _Business(
        clock=clock,
        max_ids=maxima,
        customer_count=conn.execute(sa.select(sa.func.count()).select_from(c)).scalar_one(),
        inactive=set(
            conn.execute(sa.select(c.c.customer_id).where(sa.not_(c.c.is_active))).scalars()
        ),
        catalog=_Catalog(
            ids=[row.product_id for row in products],
            prices=[int(row.unit_price * 100) for row in products],
            cum_weight=list(accumulate(1 + sales.get(row.product_id, 0) for row in products)),
            max_id=maxima["products"],
        ),
        open_orders=dict(
            conn.execute(
                sa.select(o.c.order_id, o.c.status)
                .where(o.c.status.in_(_OPEN_STATUSES))
                .order_by(o.c.order_id)
            ).all()
        ),
        delivered=dict(
            conn.execute(
                sa.select(o.c.order_id, o.c.last_modified)
                .where(o.c.status == "Delivered", o.c.last_modified >= clock - _RETURN_WINDOW)
                .order_by(o.c.order_id)
            ).all()
        ),
        buyers=list(
            conn.execute(
                sa.select(o.c.customer_id)
                .where(o.c.order_date >= clock - _BUYER_POOL_WINDOW)
                .order_by(o.c.order_id)
            ).scalars()
        ),
        daily_orders=daily,
    )


def _update(conn: sa.Connection, table: sa.Table, changes: list[dict[str, Any]]) -> int:
    """Apply changes (each with its row's key under "key"), one executemany per column set."""
    column = table.c[schema.primary_key(table)]
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for change in changes:
        groups.setdefault(tuple(sorted(change)), []).append(change)
    for batch in groups.values():
        # Without values(), the SET clause is every parameter but the key.
        conn.execute(table.update().where(column == sa.bindparam("key")), batch)
    return len(changes)


class _Day:
    """One simulated calendar day."""

    def __init__(self, rng: random.Random, day: date) -> None:
        self.rng = rng
        self.day = day
        self.start = datetime.combine(day, time())
        self.end = self.start + timedelta(days=1)

    def at(self, from_hour: float, to_hour: float) -> datetime:
        return self.start + _seconds(self.rng, from_hour * 3600, to_hour * 3600)


def _orders_due(rng: random.Random, business: _Business, day: date) -> int:
    """Orders for the day at the pace of the last four weeks, shaped by season and weekday."""
    window = [day - timedelta(days=k) for k in range(1, _RATE_WINDOW_DAYS + 1)]
    seen = sum(business.daily_orders.get(d, 0) for d in window)
    if seen:
        rate = seen / sum(_day_weight(d) for d in window)
    else:
        rate = business.customer_count * BASE_ORDERS / BASE_CUSTOMERS / HISTORY_DAYS
    return max(1, _stochastic_round(rng, rate * _day_weight(day) * rng.uniform(0.9, 1.1)))


def _buyer(rng: random.Random, business: _Business, newest: int, waiting: set[int]) -> int:
    """Mostly someone who bought in the last year (repeat buyers stay loyal)."""
    for _ in range(5):
        if business.buyers and rng.random() < _BUYER_FROM_HISTORY:
            customer_id = rng.choice(business.buyers)
        else:
            customer_id = rng.randint(1, newest)
        if customer_id not in business.inactive and customer_id not in waiting:
            break
    return customer_id


def _reprice(rng: random.Random, business: _Business, day: _Day) -> list[dict[str, Any]]:
    # A nightly job, before the shops open, so the day's sales use the new prices.
    catalog = business.catalog
    priced = [i for i, price in enumerate(catalog.prices) if price > 0]
    wanted = max(1, _stochastic_round(rng, len(catalog.ids) * PRICE_CHANGE_DAILY_RATE))
    changes = []
    for i in sorted(rng.sample(priced, min(wanted, len(priced)))):
        catalog.prices[i] = _retail_price(rng, catalog.prices[i] / 100 * rng.uniform(0.85, 1.15))
        changes.append(
            {
                "key": catalog.ids[i],
                "unit_price": _cents_to_decimal(catalog.prices[i]),
                "last_modified": day.at(0, 1),
            }
        )
    return changes


def _new_customers(
    rng: random.Random, business: _Business, day: _Day
) -> list[tuple[int, _Person, datetime]]:
    expected = business.customer_count * NEW_CUSTOMER_DAILY_RATE * rng.uniform(0.7, 1.3)
    signups = sorted(day.at(7, 23) for _ in range(max(1, _stochastic_round(rng, expected))))
    first_id = business.max_ids["customers"] + 1
    business.max_ids["customers"] += len(signups)
    return [
        (first_id + k, _person(rng, day.day, _person_defects(rng)), signed_up)
        for k, signed_up in enumerate(signups)
    ]


def _place_orders(
    rng: random.Random, business: _Business, day: _Day, plans: list[tuple[datetime, int, bool]]
) -> tuple[list[tuple], list[tuple]]:
    """Insert-ready orders and lines for (time, customer_id, online) plans."""
    orders, lines = [], []
    for when, customer_id, online in sorted(plans):
        business.max_ids["sales_orders"] += 1
        order_id = business.max_ids["sales_orders"]
        store_id = ONLINE_STORE_ID if online else _PHYSICAL_STORE(rng)
        status = _status_at(_lifecycle(rng, online, when), day.end - timedelta(microseconds=1))
        row, order_lines = _order(
            rng,
            business.catalog,
            order_id,
            customer_id,
            store_id,
            when,
            status,
            business.max_ids["sales_order_lines"] + 1,
            _random_defect(rng, _ORDER_DEFECTS),
        )
        business.max_ids["sales_order_lines"] += len(order_lines)
        orders.append(row)
        lines += order_lines
    return orders, lines


def _order_plans(
    rng: random.Random,
    business: _Business,
    day: _Day,
    newest_before_today: int,
    newcomers: list[tuple[int, _Person, datetime]],
    late: list[tuple[int, _Person, datetime]],
) -> list[tuple[datetime, int, bool]]:
    """(time, customer_id, online) of the day's orders: late arrivals', newcomers', others'."""
    online_share = _online_share(day.day)
    plans = [
        (day.at(8, 18), customer_id, rng.random() < online_share) for customer_id, _, _ in late
    ]
    for customer_id, _, signed_up in newcomers:
        if rng.random() < _WELCOME_ORDER_SHARE:
            online = rng.random() < max(_WELCOME_ONLINE_SHARE, online_share)
            plans.append((signed_up + _seconds(rng, 30, 900), customer_id, online))
    waiting = {customer_id for customer_id, _, _ in late}
    for _ in range(_orders_due(rng, business, day.day) - len(plans)):
        online = rng.random() < online_share
        plans.append(
            (
                _order_time(rng, day.start, online),
                _buyer(rng, business, newest_before_today, waiting),
                online,
            )
        )
    return plans


def _advance_orders(rng: random.Random, business: _Business, day: _Day) -> list[dict[str, Any]]:
    """Status changes of the orders that were open or recently delivered before today."""
    changes = []
    for order_id, status in list(business.open_orders.items()):
        new_status = _TRANSITION[status](rng)
        if new_status is None:
            continue
        moment = day.at(7, 21)
        changes.append({"key": order_id, "status": new_status, "last_modified": moment})
        if new_status in _OPEN_STATUSES:
            business.open_orders[order_id] = new_status
        else:
            del business.open_orders[order_id]
        if new_status == "Delivered":
            business.delivered[order_id] = moment
    horizon = day.start - _RETURN_WINDOW
    for order_id, delivered in list(business.delivered.items()):
        if delivered < horizon:
            del business.delivered[order_id]
        elif delivered < day.start and rng.random() < RETURN_DAILY_RATE:
            del business.delivered[order_id]
            changes.append({"key": order_id, "status": "Returned", "last_modified": day.at(9, 20)})
    return changes


def _change_customers(
    conn: sa.Connection,
    rng: random.Random,
    business: _Business,
    day: _Day,
    newest_before_today: int,
    waiting: set[int],
) -> list[dict[str, Any]]:
    """People move, change email, climb or drop a loyalty tier, close their account."""
    n = business.customer_count
    rates = (
        ("move", MOVE_DAILY_RATE),
        ("email", EMAIL_CHANGE_DAILY_RATE),
        ("tier", TIER_CHANGE_DAILY_RATE),
        ("close", DEACTIVATION_DAILY_RATE),
    )
    kinds = [kind for kind, rate in rates for _ in range(max(1, _stochastic_round(rng, n * rate)))]
    drawn = rng.sample(
        range(1, newest_before_today + 1), min(newest_before_today, len(kinds) + len(waiting))
    )
    chosen = [customer_id for customer_id in drawn if customer_id not in waiting][: len(kinds)]
    c = schema.customers
    current = {
        row.customer_id: row
        for row in conn.execute(
            sa.select(
                c.c.customer_id, c.c.first_name, c.c.last_name, c.c.loyalty_tier, c.c.is_active
            ).where(c.c.customer_id.in_(chosen))
        )
    }
    changes = []
    for kind, customer_id in zip(kinds, chosen, strict=False):
        row = current.get(customer_id)
        if row is None or (kind == "close" and not row.is_active):
            continue
        change: dict[str, Any] = {"key": customer_id, "last_modified": day.at(7, 22)}
        if kind == "move":
            place, _ = _place(rng)
            change.update(address=place.address, city=place.city, postal_code=place.postal_code)
        elif kind == "email":
            email = _email(
                rng, row.first_name.strip(), row.last_name.strip(), rng.randint(1940, 2006)
            )
            change["email"] = _dirty_email(rng, email, _random_defect(rng, _EMAIL_DEFECTS))
        elif kind == "tier":
            change["loyalty_tier"] = _next_tier(rng, row.loyalty_tier)
        else:
            change["is_active"] = False
            business.inactive.add(customer_id)
        changes.append(change)
    return changes


def _next_tier(rng: random.Random, tier: str) -> str:
    level = _TIERS.index(tier) if tier in _TIERS else 0
    step = -1 if level == len(_TIERS) - 1 or (level > 0 and rng.random() < 0.2) else 1
    return _TIERS[level + step]


def _simulate_day(
    conn: sa.Connection, business: _Business, last: bool
) -> dict[str, dict[str, int]]:
    day_date = business.clock.date() + timedelta(days=1)
    maxima = "|".join(str(business.max_ids[name]) for name in schema.TABLE_NAMES)
    day = _Day(random.Random(f"{day_date.isoformat()}|{maxima}"), day_date)
    rng = day.rng
    newest_before_today = business.max_ids["customers"]
    waiting = {customer_id for customer_id, _, _ in business.late}
    updates = {
        schema.products: _reprice(rng, business, day),
        schema.sales_orders: _advance_orders(rng, business, day),
        schema.customers: _change_customers(conn, rng, business, day, newest_before_today, waiting),
    }
    for table, changes in updates.items():
        _update(conn, table, changes)

    newcomers = _new_customers(rng, business, day)
    late_today = day_date.toordinal() % LATE_CUSTOMER_EVERY_DAYS == 0
    registered, held_back = (newcomers[:-1], newcomers[-1:]) if late_today else (newcomers, [])
    plans = _order_plans(rng, business, day, newest_before_today, registered, held_back)
    orders, lines = _place_orders(rng, business, day, plans)
    arrivals = [(customer_id, person, day.at(0, 6)) for customer_id, person, _ in business.late]
    arrivals += registered
    ordered_at = {row[1]: row[9] for row in orders}
    business.late = [
        (customer_id, person, ordered_at[customer_id]) for customer_id, person, _ in held_back
    ]
    if last:  # nobody is left waiting when the run ends
        arrivals += [
            (customer_id, person, placed + (day.end - placed) * rng.uniform(0.2, 0.9))
            for customer_id, person, placed in business.late
        ]
        business.late = []
    inserts = {
        schema.sales_orders: orders,
        schema.sales_order_lines: lines,
        schema.customers: [
            _customer_row(customer_id, person, "Bronze", True, at, at)
            for customer_id, person, at in arrivals
        ],
    }
    writer = _CoreWriter(conn)
    for table, rows in inserts.items():
        writer.write(table, rows)

    _remember(business, day_date, orders, len(arrivals), updates, inserts)
    counts = {name: {"inserted": 0, "updated": 0} for name in schema.TABLE_NAMES}
    for table, changes in updates.items():
        counts[table.name]["updated"] = len(changes)
    for table, rows in inserts.items():
        counts[table.name]["inserted"] = len(rows)
    return counts


def _remember(
    business: _Business,
    day: date,
    orders: list[tuple],
    arrived: int,
    updates: dict[sa.Table, list[dict[str, Any]]],
    inserts: dict[sa.Table, list[tuple]],
) -> None:
    """Bring the in-memory state up to the end of the day just written."""
    business.customer_count += arrived
    business.daily_orders[day] = len(orders)
    business.buyers += [row[1] for row in orders]
    for order_id, _, _, _, status, *_, modified in orders:
        if status in _OPEN_STATUSES:
            business.open_orders[order_id] = status
        elif status == "Delivered":
            business.delivered[order_id] = modified
    stamps = [change["last_modified"] for changes in updates.values() for change in changes]
    for table, rows in inserts.items():
        position = list(table.c.keys()).index(schema.CURSOR_COLUMN)
        stamps += [row[position] for row in rows]
    business.clock = max(stamps)


def simulate(
    engine: sa.Engine, *, days: int = 1, progress: Callable[[str], None] = lambda msg: None
) -> dict[str, dict[str, int]]:
    """Move the business forward `days` days; returns {table: {"inserted": n, "updated": m}}.

    "updated" counts row updates: a row changed on two simulated days counts twice.
    """
    if days < 0:
        raise ValueError(f"days must not be negative, got {days}")
    totals = {name: {"inserted": 0, "updated": 0} for name in schema.TABLE_NAMES}
    with engine.begin() as conn:
        business = _load_business(conn)
        for index in range(days):
            counts = _simulate_day(conn, business, last=index == days - 1)
            for name, changed in counts.items():
                for what, n in changed.items():
                    totals[name][what] += n
            progress(
                f"{business.clock.date()}: +{counts['customers']['inserted']} customers, "
                f"+{counts['sales_orders']['inserted']} orders "
                f"({counts['sales_order_lines']['inserted']} lines), "
                f"{sum(c['updated'] for c in counts.values())} updates"
            )
    return totals
