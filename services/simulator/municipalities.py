"""Presets and municipalities of a synthetic region, and the Latin slugs made of their names.

A municipality knows the grammatical forms institution names need («Аннинского муниципального
района», «Воронежская …»); :mod:`services.simulator.institutions` builds the names from them.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Preset:
    region: str  # genitive, as in «Министерство образования Воронежской области»
    region_nominative: str
    capital: str
    region_code: str  # two digits of the OGRN
    slug: str
    municipalities_csv: str
    size: int
    phone_code: str = "473"  # the capital's area code; district codes extend it by two digits
    postal: int = 394  # first three digits of the capital's postcodes
    abbr: str = "ВО"  # in regional institutions' names: «БУЗ ВО», «КУ ВО»


PRESETS = {
    "voronezh": Preset(
        region="Воронежской области",
        region_nominative="Воронежская область",
        capital="городской округ город Воронеж",
        region_code="36",
        slug="vrn",
        municipalities_csv="voronezh_municipalities.csv",
        size=1500,
    ),
    # Derived per index in services.simulator.national; size 0: enough for 175,000 VK pages.
    "national": Preset(
        region="Российской Федерации",
        region_nominative="Российская Федерация",
        capital="городской округ город Москва",
        region_code="77",
        slug="rf",
        municipalities_csv="",
        size=0,
    ),
}

# Approximate populations (thousands) by administrative centre: institutions are spread by them.
_POPULATION = {
    "Воронеж": 1050,
    "Борисоглебск": 60,
    "Нововоронеж": 31,
    "Лиски": 100,
    "Новая Усмань": 90,
    "Россошь": 90,
    "Семилуки": 65,
    "Острогожск": 55,
    "Павловск": 54,
    "Калач": 48,
    "Бобров": 47,
    "Бутурлиновка": 47,
}


# --- Small helpers -----------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        _words("a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh sch - y - e yu ya"),
        strict=True,
    )
)


def slugify(text: str) -> str:
    """Latin slug for screen names and Telegram names (``Борисоглебск`` → ``borisoglebsk``)."""
    out = []
    for ch in text.lower():
        if ch in _TRANSLIT:
            out.append("" if _TRANSLIT[ch] == "-" else _TRANSLIT[ch])
        elif ch.isascii() and ch.isalnum():
            out.append(ch)
        else:
            out.append("_")
    return re.sub(r"_+", "_", "".join(out)).strip("_")


# --- Municipalities ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Municipality:
    index: int
    kind: str  # urban_okrug | municipal_district
    name: str
    admin_centre: str
    region: int = 0  # index into Region.presets (the national preset has many regions)
    adj: str = ""  # adjective stem when the rule below gets it wrong («Казанск» for Казань)
    town_gen: str = ""  # genitive of the centre when the rule gets it wrong («Казани»)

    @property
    def urban(self) -> bool:
        return self.kind == "urban_okrug"

    @property
    def genitive(self) -> str:
        """«Аннинский муниципальный район» → «Аннинского муниципального района»."""
        words = []
        for word in self.name.split():
            if word in ("городской", "муниципальный"):
                word = word[:-2] + "ого"
            elif word in ("округ", "район"):
                word += "а"
            elif word.endswith("кий"):  # -ский, -цкий adjectives
                word = word[:-2] + "ого"
            words.append(word)
        return " ".join(words)

    @property
    def root(self) -> str:
        """Adjective stem: «Аннинск», «Борисоглебск», «Воронежск» (for «Воронежская …»)."""
        if self.adj:
            return self.adj
        first = self.name.split()[0]
        if first.endswith("кий"):
            return first[:-2]
        return self.admin_centre + "ск"

    @property
    def fem(self) -> str:
        return self.root + "ая"

    @property
    def masc(self) -> str:
        return self.root + "ий"

    @property
    def town_genitive(self) -> str:
        if self.town_gen:
            return self.town_gen
        centre = self.admin_centre
        return centre[:-1] + "ы" if centre.endswith("а") else centre + "а"

    @property
    def area_short_genitive(self) -> str:
        """«Аннинского района», «Борисоглебского городского округа», «города Воронежа»."""
        if not self.urban:
            return self.root + "ого района"
        if self.name.startswith("городской округ город"):
            return "города " + self.town_genitive
        return self.genitive

    @property
    def slug(self) -> str:
        return slugify(self.admin_centre)

    @property
    def population(self) -> int:
        return _POPULATION.get(self.admin_centre, 30 if not self.urban else 40)


def load_municipalities(preset: str = "voronezh") -> list[Municipality]:
    path = DATA_DIR / PRESETS[preset].municipalities_csv
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        Municipality(i, row["kind"].strip(), row["name"].strip(), row["admin_centre"].strip())
        for i, row in enumerate(rows)
    ]
