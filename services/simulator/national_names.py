"""Names in the national preset: district names, villages, regional bodies and institutions.

An institution's name comes from its index alone (:meth:`InstitutionNaming._fill`), so any one of
the national register's organisations is named without naming the others first.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from services.simulator.names import (
    FILL_DISTRICT,
    FILL_URBAN,
    REGIONAL_BODIES,
    Municipality,
    Namer,
    Preset,
)
from services.simulator.region import bits, unit

# Municipal districts take common Russian district names; the capital is a city okrug.
_DISTRICT_ADJ = [
    "Первомайский",
    "Октябрьский",
    "Советский",
    "Ленинский",
    "Кировский",
    "Красногвардейский",
    "Пролетарский",
    "Калининский",
    "Дзержинский",
    "Некрасовский",
    "Пушкинский",
    "Суворовский",
    "Гагаринский",
    "Чапаевский",
    "Фрунзенский",
    "Свердловский",
    "Красноармейский",
    "Комсомольский",
    "Берёзовский",
    "Ольховский",
    "Дубровский",
    "Никольский",
    "Покровский",
    "Троицкий",
    "Успенский",
    "Михайловский",
    "Александровский",
    "Ивановский",
    "Петровский",
    "Знаменский",
    "Богородский",
    "Каменский",
    "Сосновский",
    "Приморский",
    "Дмитриевский",
    "Сергиевский",
    "Вознесенский",
    "Шиловский",
    "Павловский",
    "Тарасовский",
    "Светлоярский",
    "Ольгинский",
    "Еланский",
    "Уваровский",
    "Мичуринский",
    "Кочетовский",
    "Борисовский",
    "Ключевский",
    "Сретенский",
]
_VILLAGES = [
    "Никольск",
    "Покровск",
    "Михайловск",
    "Александровск",
    "Троицк",
    "Успенск",
    "Вознесенск",
    "Берёзовск",
    "Ивановск",
    "Петровск",
    "Знаменск",
    "Садовск",
    "Дубовск",
    "Липовск",
    "Осиновск",
    "Первомайск",
    "Октябрьск",
    "Сергиевск",
    "Козловск",
    "Ярковск",
    "Каменск",
    "Сосновск",
    "Раздольненск",
    "Красносельск",
    "Ключевск",
    "Заречненск",
]
_REGIONAL_INSTITUTIONS = (
    ("health", "ГБУЗ «{C} городская клиническая больница № 1»", "gkb1", "minzdrav"),
    ("health", "ГБУЗ «Станция скорой медицинской помощи {R}»", "ssmp", "minzdrav"),
    ("health", "ГБУЗ «Клинический онкологический диспансер {R}»", "onko", "minzdrav"),
    ("culture", "ГБУК «Научная библиотека {R}»", "library", "minkult"),
    ("culture", "ГБУК «Краеведческий музей {R}»", "museum", "minkult"),
    ("education", "ГАУ ДПО «Институт развития образования {R}»", "iro", "minobr"),
    ("education", "ГБПОУ «{Cm} медицинский колледж»", "medcollege", "minobr"),
    ("sport", "ГБУ «Центр спортивной подготовки {R}»", "csp", "minsport"),
    ("social", "ГБУ «Реабилитационный центр для детей {R}»", "rcd", "minsoc"),
    ("administration", "ГКУ «Многофункциональный центр {R}»", "mfc", "gov"),
)
_MINISTRY = {slug: pattern for _, pattern, slug in REGIONAL_BODIES}
_BODIES = tuple(
    (sphere, "Законодательное собрание {R}" if slug == "duma" else pattern, slug)
    for sphere, pattern, slug in REGIONAL_BODIES
)
_CORE = 7  # bodies every municipality has (Namer.core)


def _normalised(mix: tuple) -> tuple:
    total = sum(weight for _, weight in mix)
    return tuple((kind, weight / total) for kind, weight in mix)


_FILL_URBAN = _normalised(FILL_URBAN)
_FILL_DISTRICT = _normalised(FILL_DISTRICT)


class _Context(NamedTuple):
    """Per-municipality strings every institution name there reuses."""

    town: str
    area: str
    slug: str
    fem: str
    masc: str
    edu: str
    culture: str
    sport: str
    minzdrav: str
    minsoc: str
    minobr: str
    mix: tuple


def _label(u: float, rates: tuple, default):
    acc = 0.0
    for label, rate in rates:
        acc += rate
        if u < acc:
            return label
    return default


class InstitutionNaming:
    """The naming part of :class:`~services.simulator.national.World`, which owns the caches."""

    seed: int
    presets: list[Preset]
    _namers: dict[int, Namer]
    _cores: dict[int, list]
    _contexts: dict[int, _Context]

    def _namer(self, muni: Municipality) -> Namer:
        namer = self._namers.get(muni.index)
        if namer is None:
            rng = random.Random(bits(self.seed, muni.index, 0xA11CE))
            namer = self._namers[muni.index] = Namer(muni, rng, self.presets[muni.region])
        return namer

    def _core(self, muni: Municipality) -> list:
        core = self._cores.get(muni.index)
        if core is None:
            core = self._cores[muni.index] = self._namer(muni).core()
        return core

    def _context(self, m: Municipality, preset: Preset) -> _Context:
        context = self._contexts.get(m.index)
        if context is None:
            dept = self._namer(m).dept
            context = self._contexts[m.index] = _Context(
                town=f"г. {m.town_genitive}",
                area=m.genitive,
                slug=m.slug,
                fem=m.fem,
                masc=m.masc,
                edu=dept("education"),
                culture=dept("culture"),
                sport=dept("sport"),
                minzdrav=_MINISTRY["minzdrav"].format(R=preset.region),
                minsoc=_MINISTRY["minsoc"].format(R=preset.region),
                minobr=_MINISTRY["minobr"].format(R=preset.region),
                mix=_FILL_URBAN if m.urban else _FILL_DISTRICT,
            )
        return context

    def _fill(self, m: Municipality, preset: Preset, i: int, k: int) -> tuple:
        """(kind, sphere, level, name, founder, slug) of an institution, from its index alone."""
        b = bits(self.seed, i, 0xF111)
        x = self._context(m, preset)
        kind = _label(unit(b), x.mix, "school")
        n = k - _CORE + 1
        village = _VILLAGES[(b >> 16) % len(_VILLAGES)]
        town, area, s = x.town, x.area, x.slug
        edu, culture, sport = x.edu, x.culture, x.sport
        minzdrav, minsoc, minobr = x.minzdrav, x.minsoc, x.minobr
        if kind == "school":
            if m.urban or unit(b, 32) < 0.3:
                form = ("МБОУ СОШ № {n}", "МБОУ «Гимназия № {n}»", "МБОУ «Лицей № {n}»")[
                    0 if unit(b, 48) < 0.85 else 1 if unit(b, 48) < 0.93 else 2
                ].format(n=n)
                name = f"{form} {town}" if m.urban else f"МКОУ {x.fem} СОШ № {n}"
            else:
                name = f"МКОУ {village}ая СОШ {area}"
            return kind, "education", "municipal", name, edu, f"sosh{n}_{s}"
        if kind == "kindergarten":
            name = (
                f"МБДОУ «Детский сад № {n}» {town}"
                if m.urban
                else f"МКДОУ {village}ий детский сад {area}"
            )
            return kind, "education", "municipal", name, edu, f"ds{n}_{s}"
        if kind == "culture_house":
            name = (
                f"МБУК «Дом культуры № {n}» {town}"
                if m.urban
                else f"МКУК «{village}ий сельский дом культуры» {area}"
            )
            return kind, "culture", "municipal", name, culture, f"dk{n}_{s}"
        if kind == "library":
            name = (
                f"МБУК «Библиотека № {n}» {town}"
                if m.urban
                else f"МКУК «{village}ая сельская библиотека» {area}"
            )
            return kind, "culture", "municipal", name, culture, f"lib{n}_{s}"
        if kind == "sport":
            name = f"МБУ ДО «Спортивная школа № {n}» {town if m.urban else area}"
            return kind, "sport", "municipal", name, sport, f"sport{n}_{s}"
        if kind == "dod":
            name = f"МБУ ДО «Центр детского творчества № {n}» {town if m.urban else area}"
            return kind, "education", "municipal", name, edu, f"cdt{n}_{s}"
        if kind == "museum":
            name = f"МКУК «{village}ий краеведческий музей» {area}"
            return kind, "culture", "municipal", name, culture, f"museum{n}_{s}"
        if kind == "health":
            name = (
                f"ГБУЗ «{x.fem} городская поликлиника № {n}»"
                if m.urban
                else f"ГБУЗ «{village}ая участковая больница»"
            )
            return kind, "health", "regional", name, minzdrav, f"med{n}_{s}"
        if kind == "social":
            name = f"ГБУ «Комплексный центр социального обслуживания населения № {n}» {area}"
            return kind, "social", "regional", name, minsoc, f"kcson{n}_{s}"
        name = f"ГБПОУ «{x.masc} технологический колледж № {n}»"
        return "college", "education", "regional", name, minobr, f"college{n}_{s}"
