"""A deterministic national-size sweep as EVENTS messages, for the evaluator benchmark.

Every page gets one ``PageSnapshot`` and one ``PostsObserved`` with its most recent posts, as a VK
collector publishes them; organisations arrive first in ``OrganisationsRegistered`` chunks, as the
register import publishes them. The same seed gives the same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from gospublic import bus
from gospublic import contracts as c

# Today at 09:00 UTC: fixed within a day, and recent enough that no TTL drops the rows on insert.
NOW = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
SWEEP = f"bench-{NOW:%Y-%m-%d}"
REGION = "00"
PARTITION = c.region_partition(REGION)
ORGS_PER_CHUNK = 500

SPHERES = ("administration", "education", "health", "culture", "sport", "social")
LEVELS = ("municipal", "regional", "federal")
POST_TEXTS = (
    "{name}: в {place} прошло совещание по подготовке к отопительному сезону. Обсудили ремонт "
    "сетей и график работ на {n} объектах.",
    "Уважаемые жители! Приглашаем на встречу с главой района в {place}. Начало в {n}:00.",
    "{name} поздравляет победителей регионального конкурса. Наши участники заняли {n} место.",
    "Продолжается запись в кружки и секции. Подробности по телефону приёмной.",
    "Внимание! Плановое отключение электроэнергии в {place} с 9:00 до {n}:00.",
    "Итоги недели: выполнено {n} заявок жителей, отремонтирован участок дороги в {place}.",
)
# Most pages are in order; a few lack contacts, goals or length (the defect rates of a sweep).
DESCRIPTIONS = (
    "Официальная страница: {name}. Информируем жителей о работе учреждения, целях и задачах. "
    "Телефон приёмной: +7 (473) 255-{n:02d}-34. E-mail: info{n}@example.ru",
    "Официальная страница: {name}. Информируем жителей о работе учреждения, целях и задачах. "
    "Телефон приёмной: +7 (473) 255-{n:02d}-34. E-mail: info{n}@example.ru",
    "Госпаблик: {name}. Рассказываем о деятельности учреждения. Тел. 8 473 2551{n:03d}, "
    "почта: priem{n}@example.ru",
    "{name}. Новости и объявления.",
    "Госпаблик: {name}. Режим работы: пн–пт с 8:00 до 17:00. Тел. 8 473 2551{n:03d}",
)


def org_id(i: int) -> str:
    return f"{1_000_000_000_000 + i}"


def group_id(i: int) -> int:
    return 200_000_000 + i


def organisation(i: int, rng: random.Random) -> c.Organisation:
    oid = org_id(i)
    return c.Organisation(
        org_id=oid,
        name=f"МБОУ «Школа № {i % 1000}» муниципального района {i % 2300}",
        level=LEVELS[i % len(LEVELS)],
        founder=f"Отдел образования района {i % 2300}",
        municipality=f"Муниципальный район {i % 2300}",
        sphere=SPHERES[i % len(SPHERES)],
        exempt=rng.random() < 0.01,
        pages=(c.PageRef(platform=c.Platform.VK, native_id=f"club{group_id(i)}", org_id=oid),),
    )


def snapshot(i: int, org: c.Organisation, rng: random.Random) -> c.PageSnapshot:
    gid = group_id(i)
    n = rng.randint(1, 99)
    return c.PageSnapshot.create(
        event_id=c.message_id("snapshot", gid, SWEEP),
        observed_at=NOW,
        platform=c.Platform.VK,
        page_ref=org.pages[0],
        sweep_id=SWEEP,
        page_id=str(gid),
        screen_name=f"club{gid}",
        name=org.name,
        description=rng.choice(DESCRIPTIONS).format(name=org.name, n=n),
        site=f"https://school{i}.example.ru" if rng.random() < 0.8 else "",
        address=f"Лиски, ул. Ленина, {n}" if rng.random() < 0.85 else "",
        members=rng.randint(10, 20_000),
        is_closed=0 if rng.random() < 0.98 else 1,
        is_government_organization=rng.random() < 0.9,
        verified=False,
        wall=rng.choice((1, 1, 1, 1, 1, 1, 1, 2, 2, 0, 3)),
        has_photo=rng.random() < 0.95,
        has_cover=rng.random() < 0.8,
    )


def posts(i: int, org: c.Organisation, rng: random.Random, per_page: int) -> c.PostsObserved:
    gid = group_id(i)
    age = timedelta(hours=rng.expovariate(1 / 30))
    items = []
    post_id = 5000 + rng.randint(0, 5000)
    for k in range(per_page):
        repost = rng.random() < 0.2
        text = rng.choice(POST_TEXTS).format(name=org.name, place="Лиски", n=rng.randint(1, 12))
        items.append(
            c.Post(
                post_id=str(post_id - 3 * k),
                posted_at=NOW - age,
                from_id=str(-gid),
                is_own=not repost,
                is_repost=repost,
                is_pinned=k == 0 and rng.random() < 0.1,
                comments_count=rng.randint(0, 5),
                comments_open=rng.random() < 0.9,
                likes=rng.randint(0, 200),
                reposts=rng.randint(0, 20),
                views=rng.randint(50, 5000),
                text="" if repost and rng.random() < 0.6 else text,
            )
        )
        age += timedelta(hours=rng.expovariate(1 / 30))
    return c.PostsObserved.create(
        event_id=c.message_id("posts", gid, SWEEP),
        observed_at=NOW,
        platform=c.Platform.VK,
        page_ref=org.pages[0],
        sweep_id=SWEEP,
        page_id=str(gid),
        total_count=per_page + rng.randint(0, 3000),
        posts=tuple(items),
    )


def sweep_messages(pages: int, posts_per_page: int = 20, seed: int = 1) -> Iterator[bus.Outgoing]:
    """The register chunks, then a snapshot and the posts of every page, in collection order."""
    rng = random.Random(seed)
    orgs = [organisation(i, rng) for i in range(pages)]
    chunks = (pages + ORGS_PER_CHUNK - 1) // ORGS_PER_CHUNK
    for chunk in range(chunks):
        event = c.OrganisationsRegistered.create(
            event_id=c.message_id("registry", REGION, chunk),
            observed_at=NOW - timedelta(hours=1),
            registry_version="bench",
            region=REGION,
            chunk=chunk,
            chunks=chunks,
            organisations=tuple(orgs[chunk * ORGS_PER_CHUNK : (chunk + 1) * ORGS_PER_CHUNK]),
        )
        yield bus.event_message(c.registry_subject(REGION), event, "bench", chunk)
    for i, org in enumerate(orgs):
        ref = org.pages[0]
        yield bus.event_message(
            c.event_subject("vk", "snapshot", PARTITION),
            snapshot(i, org, rng),
            ref.key,
            "snapshot",
            SWEEP,
        )
        yield bus.event_message(
            c.event_subject("vk", "posts", PARTITION),
            posts(i, org, rng, posts_per_page),
            ref.key,
            "posts",
            SWEEP,
        )
