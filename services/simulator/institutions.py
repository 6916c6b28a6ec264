"""Names of the bodies and institutions of a synthetic region, with their founders.

Realistic Russian names (``МБОУ СОШ № 3 г. Борисоглебска``, ``МКОУ Никольская СОШ Аннинского
муниципального района``) built from a municipality's name and a seeded random stream:
:class:`MunicipalBodies` gives the bodies every municipality has and their founders, :class:`Namer`
the institutions that fill the rest, each type with its own counter or village list.
"""

from __future__ import annotations

import random

from services.simulator.municipalities import Municipality, Preset, _words, slugify

_VILLAGE_ROOTS = _words(
    "Никольск Покровск Михайловск Александровск Троицк Успенск Вознесенск Берёзовск Ивановск "
    "Петровск Знаменск Краснополянск Нижнекисляйск Солонецк Ольховск Дмитриевск Архангельск "
    "Воскресенск Рождественск Коломенск Садовск Дубовск Липовск Осиновск Гремяченск Хреновск "
    "Старокриушанск Новомарковск Верхнеикорецк Костёнск Первомайск Октябрьск Сергиевск Щучинск "
    "Бродовск Лосевск Шестаковск Писаревск Мечётск Юдановск Козловск Ярковск Девицк "
    "Скрипниковск "
)
_CITY_DK_NAMES = _words(
    "Юбилейный Заводской Молодёжный Октябрь Восток Машиностроитель Энергетик Радуга Родина "
    "Дружба Спутник Звёздный Мир Современник "
)
REGIONAL_BODIES = (
    ("administration", "Правительство {R}", "gov"),
    ("administration", "{Rn} областная Дума", "duma"),
    ("administration", "Министерство финансов {R}", "minfin"),
    ("administration", "Министерство экономического развития {R}", "mineconom"),
    ("education", "Министерство образования {R}", "minobr"),
    ("health", "Министерство здравоохранения {R}", "minzdrav"),
    ("culture", "Министерство культуры {R}", "minkult"),
    ("sport", "Министерство физической культуры и спорта {R}", "minsport"),
    ("social", "Министерство социальной защиты {R}", "minsoc"),
    ("social", "Министерство труда и занятости населения {R}", "mintrud"),
    ("administration", "Министерство цифрового развития {R}", "mincifra"),
    ("administration", "Министерство сельского хозяйства {R}", "minselhoz"),
    ("administration", "Министерство строительства {R}", "minstroy"),
    ("administration", "Министерство жилищно-коммунального хозяйства и энергетики {R}", "mingkh"),
    ("administration", "Министерство дорожной деятельности {R}", "mindor"),
    ("administration", "Министерство природных ресурсов и экологии {R}", "minprirody"),
    ("administration", "Министерство имущественных и земельных отношений {R}", "minimush"),
    ("administration", "Министерство промышленности и торговли {R}", "minprom"),
    ("administration", "Министерство транспорта {R}", "mintrans"),
    ("administration", "Управление делами {R}", "upravdel"),
    ("administration", "Контрольно-счётная палата {R}", "ksp"),
    ("administration", "Избирательная комиссия {R}", "izbirkom"),
    ("administration", "Государственная жилищная инспекция {R}", "gzhi"),
    ("culture", "Управление по охране объектов культурного наследия {R}", "okn"),
)
# Regional institutions in the capital: (sphere, name, slug, founder key).
REGIONAL_INSTITUTIONS = (
    ("health", "БУЗ ВО «{C} областная клиническая больница № 1»", "okb1", "minzdrav"),
    ("health", "БУЗ ВО «{C} областная детская клиническая больница № 1»", "odkb1", "minzdrav"),
    ("health", "БУЗ ВО «{C} областной клинический онкологический диспансер»", "onko", "minzdrav"),
    ("health", "БУЗ ВО «{C} станция скорой медицинской помощи»", "ssmp", "minzdrav"),
    ("culture", "ГБУК ВО «{C} областная универсальная научная библиотека»", "ounb", "minkult"),
    ("culture", "ГБУК ВО «{C} областной краеведческий музей»", "okm", "minkult"),
    ("culture", "ГБУК ВО «{C} областная детская библиотека»", "odb", "minkult"),
    ("culture", "АУК ВО «{C} концертный зал»", "concert", "minkult"),
    ("sport", "ГБУ ВО «Центр спортивной подготовки сборных команд {R}»", "csp", "minsport"),
    ("education", "ГАУ ДПО ВО «Институт развития образования»", "iro", "minobr"),
    ("education", "ГБПОУ ВО «{C} техникум строительных технологий»", "vtst", "minobr"),
    ("education", "ГБПОУ ВО «{C} базовый медицинский колледж»", "vbmk", "minobr"),
    (
        "education",
        "ГБПОУ ВО «{C} государственный промышленно-гуманитарный колледж»",
        "vgpgk",
        "minobr",
    ),
    ("social", "БУ ВО «{C} геронтологический центр»", "geron", "minsoc"),
    ("social", "БУ ВО «{C} областной реабилитационный центр для детей»", "orc", "minsoc"),
    ("administration", "ГКУ ВО «Многофункциональный центр предоставления услуг»", "mfc", "gov"),
)


class MunicipalBodies:
    """The bodies every municipality has, and the founders of its institutions."""

    m: Municipality
    preset: Preset

    def dept(self, what: str) -> str:
        m = self.m
        if m.name.startswith("городской округ город"):
            return {
                "education": "Управление образования и молодёжной политики администрации ",
                "culture": "Управление культуры администрации ",
                "sport": "Управление физической культуры и спорта администрации ",
            }[what] + m.genitive
        return {
            "education": "Отдел образования администрации ",
            "culture": "Отдел культуры администрации ",
            "sport": "Отдел по физической культуре и спорту администрации ",
        }[what] + m.genitive

    def ministry(self, key: str) -> str:
        r = self.preset.region
        return {
            "minobr": f"Министерство образования {r}",
            "minzdrav": f"Министерство здравоохранения {r}",
            "minkult": f"Министерство культуры {r}",
            "minsport": f"Министерство физической культуры и спорта {r}",
            "minsoc": f"Министерство социальной защиты {r}",
            "mintrud": f"Министерство труда и занятости населения {r}",
            "gov": f"Правительство {r}",
        }[key]

    def _prefix(self, form: str) -> str:
        """«БУЗ ВО» in a region with an abbreviation, «ГБУЗ» where there is none."""
        return f"{form} {self.preset.abbr}" if self.preset.abbr else f"Г{form}"

    # Core bodies of every municipality -----------------------------------------------------
    def core(self) -> list[tuple[str, str, str, str, str, str]]:
        """(kind, sphere, level, name, founder, slug) of the bodies every municipality has."""
        m, r = self.m, self.preset.region
        capital = m.name.startswith("городской округ город")
        admin = f"Администрация {m.genitive}" + ("" if capital else f" {r}")
        council = (
            f"{m.fem} городская Дума" if capital else f"Совет народных депутатов {m.genitive} {r}"
        )
        s = m.slug
        hospital = (
            f"{self._prefix('БУЗ')} «{m.fem} городская клиническая больница № 1»"
            if capital
            else f"{self._prefix('БУЗ')} «{m.fem} районная больница»"
        )
        return [
            ("administration", "administration", "municipal", admin, m.name, f"adm_{s}"),
            ("council", "administration", "municipal", council, m.name, f"snd_{s}"),
            ("edu_dept", "education", "municipal", self.dept("education"), admin, f"edu_{s}"),
            ("culture_dept", "culture", "municipal", self.dept("culture"), admin, f"kultura_{s}"),
            ("hospital", "health", "regional", hospital, self.ministry("minzdrav"), f"rb_{s}"),
            (
                "uszn",
                "social",
                "regional",
                f"{self._prefix('КУ')} «Управление социальной защиты населения {m.area_short_genitive}»",
                self.ministry("minsoc"),
                f"uszn_{s}",
            ),
            (
                "czn",
                "social",
                "regional",
                f"{self._prefix('КУ')} «Центр занятости населения {m.area_short_genitive}»",
                self.ministry("mintrud"),
                f"czn_{s}",
            ),
        ]


class Namer(MunicipalBodies):
    """Institution names for one municipality; each type keeps its own counter or village list."""

    def __init__(self, muni: Municipality, rng: random.Random, preset: Preset):
        self.m = muni
        self.rng = rng
        self.preset = preset
        self.villages = rng.sample(_VILLAGE_ROOTS, k=len(_VILLAGE_ROOTS))
        self.pointer: dict[str, int] = {}
        self.counter: dict[str, int] = {}
        self.once: set[str] = set()
        self.dk_names = rng.sample(_CITY_DK_NAMES, k=len(_CITY_DK_NAMES))

    def _next(self, key: str, start: int = 1, step: tuple[int, int] = (1, 1)) -> int:
        value = self.counter.get(key, start - 1) + self.rng.randint(*step)
        self.counter[key] = value
        return value

    def _village(self, key: str) -> str | None:
        i = self.pointer.get(key, 0)
        if i >= len(self.villages) or (i >= 12 and self.rng.random() < 0.4):
            return None
        self.pointer[key] = i + 1
        return self.villages[i]

    def _first(self, key: str) -> bool:
        if key in self.once:
            return False
        self.once.add(key)
        return True

    # Institutions that fill the rest -----------------------------------------------------------
    def make(self, kind: str) -> tuple[str, str, str, str, str] | None:
        """(sphere, level, name, founder, slug) of a new institution, or None if exhausted."""
        m, rng = self.m, self.rng
        s = m.slug
        area = m.genitive
        if kind == "school":
            if m.urban:
                n = self._next("school", step=(1, 3))
                form = rng.random()
                if form < 0.08:
                    name = f"МБОУ «Гимназия № {n}» г. {m.town_genitive}"
                elif form < 0.15:
                    name = f"МБОУ «Лицей № {n}» г. {m.town_genitive}"
                else:
                    name = f"МБОУ СОШ № {n} г. {m.town_genitive}"
                return "education", "municipal", name, self.dept("education"), f"sosh{n}_{s}"
            prefix = rng.choice(("МКОУ", "МБОУ"))
            if self.counter.get("school", 0) < 2 + (m.population > 50):
                n = self._next("school")
                name = f"{prefix} {m.fem} СОШ № {n}"
                return "education", "municipal", name, self.dept("education"), f"sosh{n}_{s}"
            village = self._village("school")
            if village is None:
                n = self._next("school")
                name = f"{prefix} {m.fem} СОШ № {n}"
                return "education", "municipal", name, self.dept("education"), f"sosh{n}_{s}"
            level = "ООШ" if rng.random() < 0.3 else "СОШ"
            name = f"{prefix} {village}ая {level} {area}"
            slug = f"{slugify(village)}aya_{slugify(level)}_{s}"
            return "education", "municipal", name, self.dept("education"), slug
        if kind == "kindergarten":
            if m.urban:
                n = self._next("kg", step=(1, 4))
                name = f"МБДОУ «Детский сад № {n}» г. {m.town_genitive}"
                return "education", "municipal", name, self.dept("education"), f"ds{n}_{s}"
            village = self._village("kg") if self.counter.get("kg", 0) >= 2 else None
            prefix = rng.choice(("МКДОУ", "МБДОУ"))
            if village is None:
                n = self._next("kg")
                name = f"{prefix} {m.masc} детский сад № {n}"
                return "education", "municipal", name, self.dept("education"), f"ds{n}_{s}"
            name = f"{prefix} {village}ий детский сад {area}"
            slug = f"ds_{slugify(village)}_{s}"
            return "education", "municipal", name, self.dept("education"), slug
        if kind == "culture_house":
            if m.urban:
                if not self.dk_names:
                    return None
                title = self.dk_names.pop()
                name = f"МБУК «Дом культуры «{title}»» г. {m.town_genitive}"
                return (
                    "culture",
                    "municipal",
                    name,
                    self.dept("culture"),
                    f"dk_{slugify(title)}_{s}",
                )
            if self._first("rdk"):
                name = f"МКУК «{m.masc} районный дом культуры»"
                return "culture", "municipal", name, self.dept("culture"), f"rdk_{s}"
            village = self._village("sdk")
            if village is None:
                return None
            name = f"МКУК «{village}ий сельский дом культуры» {area}"
            return "culture", "municipal", name, self.dept("culture"), f"sdk_{slugify(village)}_{s}"
        if kind == "library":
            if self._first("cbs"):
                name = (
                    f"МБУК «Централизованная библиотечная система» г. {m.town_genitive}"
                    if m.urban
                    else f"МКУК «Межпоселенческая центральная библиотека {area}»"
                )
                return "culture", "municipal", name, self.dept("culture"), f"library_{s}"
            if m.urban:
                n = self._next("lib", step=(1, 3))
                name = f"МБУК «Библиотека № {n}» г. {m.town_genitive}"
                return "culture", "municipal", name, self.dept("culture"), f"library{n}_{s}"
            village = self._village("lib")
            if village is None:
                return None
            name = f"МКУК «{village}ая сельская библиотека» {area}"
            return "culture", "municipal", name, self.dept("culture"), f"lib_{slugify(village)}_{s}"
        if kind == "sport":
            if m.urban:
                n = self._next("sport")
                form = "СШОР" if rng.random() < 0.3 else "Спортивная школа"
                name = f"МБУ ДО «{form} № {n}» г. {m.town_genitive}"
                return "sport", "municipal", name, self.dept("sport"), f"sport{n}_{s}"
            if self._first("dush"):
                name = f"МБУ ДО «{m.fem} спортивная школа»"
                return "sport", "municipal", name, self.dept("sport"), f"sport_{s}"
            if self._first("fok"):
                name = f"МКУ «{m.masc} физкультурно-оздоровительный комплекс»"
                return "sport", "municipal", name, self.dept("sport"), f"fok_{s}"
            return None
        if kind == "dod":
            if m.urban:
                n = self._next("dod")
                name = f"МБУ ДО «Центр дополнительного образования № {n}» г. {m.town_genitive}"
                return "education", "municipal", name, self.dept("education"), f"cdo{n}_{s}"
            if self._first("ddt"):
                name = f"МБУ ДО «{m.masc} районный Дом детского творчества»"
                return "education", "municipal", name, self.dept("education"), f"ddt_{s}"
            return None
        if kind == "museum":
            if self._first("museum"):
                name = (
                    f"МБУК «Музей истории города» г. {m.town_genitive}"
                    if m.urban
                    else f"МКУК «{m.masc} районный краеведческий музей»"
                )
                return "culture", "municipal", name, self.dept("culture"), f"museum_{s}"
            return None
        if kind == "health":
            minzdrav = self.ministry("minzdrav")
            if m.name.startswith("городской округ город"):
                n = self._next("poly", step=(1, 2))
                form = rng.choice(("городская поликлиника", "городская клиническая поликлиника"))
                name = f"БУЗ ВО «{m.fem} {form} № {n}»"
                return "health", "regional", name, minzdrav, f"gp{n}_{s}"
            if self._first("stomat"):
                name = f"БУЗ ВО «{m.fem} районная стоматологическая поликлиника»"
                return "health", "regional", name, minzdrav, f"stom_{s}"
            return None
        if kind == "social":
            minsoc = self.ministry("minsoc")
            variants = (
                ("kcson", f"БУ ВО «{m.masc} комплексный центр социального обслуживания населения»"),
                (
                    "srcn",
                    f"КУ ВО «{m.masc} социально-реабилитационный центр для несовершеннолетних»",
                ),
                ("pni", f"БУ ВО «{m.masc} психоневрологический интернат»"),
            )
            for key, name in variants:
                if self._first(key):
                    return "social", "regional", name, minsoc, f"{key}_{s}"
            return None
        if kind == "college":
            variants = (
                ("agro", f"ГБПОУ ВО «{m.masc} аграрный техникум»"),
                ("ped", f"ГБПОУ ВО «{m.masc} педагогический колледж»"),
            )
            for key, name in variants:
                if self._first(key):
                    return "education", "regional", name, self.ministry("minobr"), f"{key}_{s}"
            return None
        raise ValueError(kind)


FILL_DISTRICT = (
    ("school", 0.36),
    ("kindergarten", 0.22),
    ("culture_house", 0.16),
    ("library", 0.10),
    ("sport", 0.04),
    ("dod", 0.04),
    ("museum", 0.01),
    ("health", 0.02),
    ("social", 0.03),
    ("college", 0.02),
)
FILL_URBAN = (
    ("school", 0.32),
    ("kindergarten", 0.33),
    ("culture_house", 0.05),
    ("library", 0.07),
    ("sport", 0.07),
    ("dod", 0.05),
    ("museum", 0.01),
    ("health", 0.07),
    ("social", 0.02),
    ("college", 0.01),
)


def agree_gender(name: str, root: str) -> str:
    """Fix the adjective's gender before «областной/концертный/техникум…» (masculine nouns)."""
    fem = root + "ая"
    for noun in (
        "областной",
        "концертный",
        "техникум",
        "базовый",
        "государственный",
        "геронтологический",
    ):
        name = name.replace(f"{fem} {noun}", f"{root}ий {noun}")
    return name
