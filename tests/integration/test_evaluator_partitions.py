"""Partitioned evaluators: two evaluators, each owning half of the EVENTS partitions and writing its
own chDB directory, store together exactly the rows one evaluator owning every partition stores
from the same events, and no page is evaluated by both.

Every evaluator runs as a process of its own (chDB allows one data directory per process) on the
same nats-server and stream. The register has four regions, two in each half of the partitions,
with cohorts of 20 pages (LOW_ENGAGEMENT ranks pages within their region's cohort, so the order of
a region's events matters), organisations on two platforms (COPIED_CONTENT), cited comments,
pages that go away and profiles that change between two sweeps.

The events go out in phases with at most one event per organisation each, and every evaluator has
stored and acknowledged a phase before the next is published. The scorecard is written once per
organisation per batch, so an organisation's events split differently into batches would make
other (equally right) scorecard rows; phases keep the batching out of the comparison.

Compared table by table, every row and every column, except:
- ``violations.changed_at``: the evaluating process's clock at the transition (``state.tick``),
  not derived from any event;
- ``schema_migrations``: each store records when it applied its own migrations;
- ``score_rollups``: aggregate states, partial in each store; compared merged (``avgMerge``,
  ``minMerge``, ``uniqMerge`` by key, as every reader reads them and as a cluster's shards merge),
  the means within 1e-9 (a float sum in another order).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gospublic import bus
from gospublic import contracts as c
from gospublic.processes import ProcessGroup, child_env
from services.collector.outcomes import KIND

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
HALF = c.EVENT_PARTITIONS // 2
OWNERS = {"single": "", "first": f"0-{HALF - 1}", "second": f"{HALF}-{c.EVENT_PARTITIONS - 1}"}
# Two regions in each half of the partitions (checked below).
REGIONS = ("03", "04", "36", "05")
ORGS_PER_REGION = 40  # two spheres: cohorts of 20 VK pages, LOW_ENGAGEMENT's min_cohort
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)

EXCLUDED_COLUMNS = {("violations", "changed_at")}
EXCLUDED_TABLES = {"schema_migrations", "score_rollups"}


# --- the events ----------------------------------------------------------------------------------


def organisations(region: str) -> list[c.Organisation]:
    orgs = []
    for i in range(ORGS_PER_REGION):
        org_id = f"10{region}{i:09d}"
        pages = [c.PageRef(platform=c.Platform.VK, native_id=f"club{region}{i:03d}", org_id=org_id)]
        if i % 3 == 0:  # a third also post on OK: their copies are compared
            pages.append(
                c.PageRef(platform=c.Platform.OK, native_id=f"{region}{i:04d}", org_id=org_id)
            )
        orgs.append(
            c.Organisation(
                org_id=org_id,
                name=f"Школа № {i} региона {region}",
                level="municipal",
                founder=f"Управление образования {region}",
                municipality=f"Район {i % 4}",
                sphere=("education", "culture")[i % 2],
                pages=tuple(pages),
                gospubliki=(None, True, False)[i % 3],
            )
        )
    return orgs


def message(event: c.Event, region: str, *ids: object) -> bus.Outgoing:
    if isinstance(event, c.OrganisationsRegistered):
        return bus.event_message(c.registry_subject(region), event, region, *ids)
    kind = KIND[type(event)]
    subject = c.event_subject(event.platform.value, kind, c.region_partition(region))
    return bus.event_message(subject, event, event.page_ref.key, kind, event.sweep_id)


def snapshot(ref: c.PageRef, i: int, sweep: int, at: datetime) -> c.PageEvent:
    sweep_id = f"s{sweep}"
    if (i + sweep) % 11 == 0:  # a page that went away (another one each sweep)
        return c.PageUnavailable.create(
            observed_at=at, platform=ref.platform, page_ref=ref, sweep_id=sweep_id,
            reason="deleted", error_code=15,
        )  # fmt: skip
    described = (i + sweep) % 4 != 0
    return c.PageSnapshot.create(
        observed_at=at, platform=ref.platform, page_ref=ref, sweep_id=sweep_id,
        page_id=ref.native_id.removeprefix("club"), name=f"Школа № {i}",
        description=("Официальная страница школы. Тел. +7 (473) 255-12-34, school@example.ru"
                     if described else "Школа"),
        site="https://school.example.ru" if i % 5 else "", members=100 + 37 * i + 11 * sweep,
        wall=1, verified=i % 7 == 0, has_photo=True, has_cover=i % 2 == 0,
    )  # fmt: skip


def posts(ref: c.PageRef, i: int, sweep: int, at: datetime) -> c.PostsObserved:
    own_texts = [f"Новости школы {ref.org_id}: событие {k} недели {sweep}" for k in range(6)]
    items = tuple(
        c.Post(
            post_id=f"{sweep}{k:02d}",
            posted_at=at - timedelta(days=k * (1 + i % 5), hours=i % 7),
            is_own=True,
            is_repost=k == 5 and i % 4 == 0,
            comments_count=k % 3,
            likes=(i * 7 + k * 3 + sweep * 5) % 40,
            reposts=k % 2,
            views=500 + 20 * i + k,
            # OK repeats VK's texts for every other of its organisations (COPIED_CONTENT).
            text=own_texts[k] if ref.platform == c.Platform.VK or i % 2 == 0 else f"ОК {i} {k}",
        )
        for k in range(6)
    )
    return c.PostsObserved.create(
        observed_at=at, platform=ref.platform, page_ref=ref, sweep_id=f"s{sweep}",
        page_id=ref.native_id.removeprefix("club"), total_count=40, posts=items,
    )  # fmt: skip


def comments(ref: c.PageRef, i: int, sweep: int, at: datetime) -> c.CommentsObserved:
    page_id = ref.native_id.removeprefix("club")
    items = []
    for k in range(i % 4):
        asked = at - timedelta(hours=10 + 20 * k)
        items.append(
            c.Comment(
                comment_id=f"{sweep}{k}", post_id=f"{sweep}0{k}", from_id=f"{1000 + k}",
                author_kind="citizen", posted_at=asked,
                text=f"Когда будет собрание? Подскажите, пожалуйста ({k})",
            )
        )  # fmt: skip
        if (k + i + sweep) % 2 == 0:  # answered
            items.append(
                c.Comment(
                    comment_id=f"{sweep}{k}a", post_id=f"{sweep}0{k}", from_id=f"-{page_id}",
                    author_kind="page", reply_to=f"{sweep}{k}", thread_id=f"{sweep}{k}",
                    posted_at=asked + timedelta(hours=2), text="Собрание в пятницу в 18:00.",
                )
            )  # fmt: skip
    return c.CommentsObserved.create(
        observed_at=at, platform=ref.platform, page_ref=ref, sweep_id=f"s{sweep}",
        page_id=page_id, comments=tuple(items),
    )  # fmt: skip


def register(region: str, orgs: list[c.Organisation]) -> c.OrganisationsRegistered:
    return c.OrganisationsRegistered.create(
        observed_at=T0, registry_version="v1", region=region, chunk=0, chunks=1,
        organisations=tuple(orgs),
    )  # fmt: skip


def phases() -> list[list[bus.Outgoing]]:
    """The register, then two sweeps; each phase at most one event per organisation, in an order
    that interleaves the regions (one stream, as the collectors' events arrive)."""
    registers = {region: organisations(region) for region in REGIONS}
    out = [[message(register(region, orgs), region, "v1", 0) for region, orgs in registers.items()]]
    steps = [
        (c.Platform.VK, snapshot), (c.Platform.VK, posts), (c.Platform.VK, comments),
        (c.Platform.OK, snapshot), (c.Platform.OK, posts),
    ]  # fmt: skip
    for sweep in (1, 2):
        for n, (platform, make) in enumerate(steps):
            at = T0 + timedelta(days=7 * (sweep - 1), hours=1, minutes=n)
            phase = []
            for i in range(ORGS_PER_REGION):
                for region, orgs in registers.items():
                    ref = orgs[i].page(platform)
                    if ref is not None:
                        phase.append(message(make(ref, i, sweep, at), region))
            out.append(phase)
    return out


# --- the evaluators ------------------------------------------------------------------------------


def spawn(group: ProcessGroup, nats_env: dict[str, str], work: Path, name: str) -> Any:
    values = {
        **nats_env,
        "GOSPUBLIC_STATE_DIR": str(work / name),
        "GOSPUBLIC_CLICKHOUSE_URL": f"chdb://{work / name / 'clickhouse'}",
        "GOSPUBLIC_EVALUATOR_PARTITIONS": OWNERS[name],
        "GOSPUBLIC_BATCH_MAX_WAIT_S": "0.2",
        "GOSPUBLIC_LOG_FORMAT": "text",
        "GOSPUBLIC_LOG_LEVEL": "WARNING",
    }
    return group.spawn(name, ["evaluator"], child_env(values, inherit_settings=False))


def durables() -> dict[str, str]:
    return {
        name: c.evaluator_durable(range(c.EVENT_PARTITIONS) if not spec else _range(spec))
        for name, spec in OWNERS.items()
    }


def _range(spec: str) -> range:
    first, last = spec.split("-")
    return range(int(first), int(last) + 1)


async def wait_drained(js: Any, group: ProcessGroup, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        group.check_alive()
        pending = [await bus.consumer_pending(js, c.EVENTS_STREAM, d) for d in durables().values()]
        if all(p == (0, 0) for p in pending):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the evaluators did not store every phase in time: {pending}")


# --- reading the stores (each in a process of its own: one chDB directory per process) -----------


def dump(chdb_dir: str, out: str) -> None:
    """Every table's rows as JSON texts, and the roll-ups' states as a Native file beside them."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_dir}")
    tables = [r[0] for r in client.query("SHOW TABLES FROM gospublic").result_rows]
    rows: dict[str, list[str]] = {}
    for table in tables:
        if table in EXCLUDED_TABLES or table.endswith("_mv"):
            continue
        columns = [
            name
            for (name,) in client.query(
                "SELECT name FROM system.columns WHERE database = 'gospublic'"
                " AND table = {t:String} ORDER BY position",
                parameters={"t": table},
            ).result_rows
            if (table, name) not in EXCLUDED_COLUMNS
        ]
        result = client.query(f"SELECT {', '.join(columns)} FROM gospublic.{table}")
        rows[table] = [
            json.dumps(dict(zip(columns, row, strict=True)), default=str, sort_keys=True)
            for row in result.result_rows
        ]
    client.command(
        f"INSERT INTO FUNCTION file('{out}.rollups.native', 'Native')"
        " SELECT * FROM gospublic.score_rollups"
    )
    Path(out).write_text(json.dumps(rows))


def merged_rollups(files: str, out: str) -> None:
    """The roll-ups of the Native files given (a glob) merged as a reader merges them."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=f"chdb://{Path(out).parent / 'scratch'}")
    result = client.query(
        "SELECT toString(day), dimension, dimension_value, component, avgMerge(mean),"
        " minMerge(minimum), uniqMerge(organisations)"
        f" FROM file('{files}', 'Native') GROUP BY day, dimension, dimension_value, component"
    )
    Path(out).write_text(json.dumps([list(r) for r in result.result_rows]))


def run_helper(*argv: str) -> None:
    subprocess.run(
        [sys.executable, __file__, *argv],
        check=True,
        cwd=REPO,
        env=child_env({"PYTHONPATH": str(REPO)}, inherit_settings=False),
        timeout=120,
    )


# --- the test ------------------------------------------------------------------------------------


async def test_two_partitioned_evaluators_store_what_one_evaluator_stores(
    tmp_path: Path, nats_server: Any, settings: Any
) -> None:
    halves = {c.region_partition(r) < HALF for r in REGIONS}
    assert halves == {True, False}, "the regions must fall in both halves of the partitions"
    nc = await bus.connect(settings.nats_url, settings, "test")
    js = nc.jetstream()
    await bus.ensure_topology(js, settings)
    group = ProcessGroup(tmp_path / "logs")
    try:
        for name in OWNERS:
            spawn(group, nats_server.client_env(), tmp_path, name)
        assert group.wait_ready(90) == [], "an evaluator did not become ready"
        published = 0
        for phase in phases():
            published += await bus.publish_all(js, phase)
            await wait_drained(js, group)
        delivered = {
            name: (await js.consumer_info(c.EVENTS_STREAM, durable)).delivered.consumer_seq
            for name, durable in durables().items()
        }
    finally:
        group.stop_all(timeout_s=60)
        await nc.close()
    assert [s.process.returncode for s in group.services] == [0, 0, 0]
    # Every message went to one of the two, and all of them to the single evaluator.
    assert delivered["single"] == published == delivered["first"] + delivered["second"]
    assert min(delivered["first"], delivered["second"]) > 0

    for name in OWNERS:
        run_helper("dump", str(tmp_path / name / "clickhouse"), str(tmp_path / f"{name}.json"))
    stored = {n: json.loads((tmp_path / f"{n}.json").read_text()) for n in OWNERS}
    single, first, second = stored["single"], stored["first"], stored["second"]

    assert set(single) == set(first) == set(second)
    for table in single:
        union = Counter(first[table]) + Counter(second[table])
        ours = Counter(single[table])
        assert union == ours, (
            f"{table}: only partitioned {list((union - ours).elements())[:3]}, "
            f"only single {list((ours - union).elements())[:3]}"
        )
    # The data is rich enough for the comparison to mean something.
    counts = {t: len(rows) for t, rows in single.items()}
    assert counts["organisations"] == len(REGIONS) * ORGS_PER_REGION
    assert counts["violations"] > 100 and counts["scorecards"] > 100, counts
    rules = Counter(json.loads(r)["rule"] for r in single["violations"])
    assert {"LOW_ENGAGEMENT", "COPIED_CONTENT", "UNANSWERED_COMMENT"} <= set(rules), rules

    # No page evaluated twice: each store holds only its own regions' organisations and pages.
    def pages(rows: list[str]) -> set[tuple[str, str, str]]:
        return {(r["org_id"], r["platform"], r["page_id"]) for r in map(json.loads, rows)}

    assert not pages(first["check_results"]) & pages(second["check_results"])
    for name, owned in (("first", range(HALF)), ("second", range(HALF, c.EVENT_PARTITIONS))):
        regions = {json.loads(r)["region"] for r in stored[name]["organisations"]}
        assert regions and all(c.region_partition(r) in owned for r in regions), (name, regions)

    run_helper("rollups", str(tmp_path / "single.json.rollups.native"), str(tmp_path / "one.json"))
    both = str(tmp_path / "{first,second}.json.rollups.native")
    run_helper("rollups", both, str(tmp_path / "two.json"))
    one = {tuple(r[:4]): r[4:] for r in json.loads((tmp_path / "one.json").read_text())}
    two = {tuple(r[:4]): r[4:] for r in json.loads((tmp_path / "two.json").read_text())}
    assert one and one.keys() == two.keys()
    for key, (mean, minimum, organisations_count) in one.items():
        assert two[key][0] == pytest.approx(mean, rel=1e-9, abs=1e-12), key
        assert (two[key][1], two[key][2]) == (minimum, organisations_count), key


if __name__ == "__main__":  # the helpers above, run in a process of their own
    command, *arguments = sys.argv[1:]
    {"dump": dump, "rollups": merged_rollups}[command](*arguments)
