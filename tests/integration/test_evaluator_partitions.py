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
import shutil
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
from gospublic.runtime import EmbeddedNats
from gospublic.settings import Settings
from services.collector.outcomes import KIND

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
HALF = c.EVENT_PARTITIONS // 2
OWNERS = {"single": "", "first": f"0-{HALF - 1}", "second": f"{HALF}-{c.EVENT_PARTITIONS - 1}"}
REFERENCE = "reference"  # one evaluator throughout, on a nats-server of its own (the hand-over)
OWNERS[REFERENCE] = ""
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
    """The evaluator ``name`` (its partitions in ``OWNERS``) on its own chDB under ``work``."""
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


def durable(name: str) -> str:
    spec = OWNERS[name]
    first, _, last = (spec or f"0-{c.EVENT_PARTITIONS - 1}").partition("-")
    return c.evaluator_durable(range(int(first), int(last) + 1))


async def wait_drained(
    js: Any, group: ProcessGroup, names: list[str], timeout_s: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        group.check_alive()
        pending = [await bus.consumer_pending(js, c.EVENTS_STREAM, durable(n)) for n in names]
        if all(p == (0, 0) for p in pending):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the evaluators did not store every phase in time: {pending}")


async def delivered(js: Any, name: str) -> int:
    return (await js.consumer_info(c.EVENTS_STREAM, durable(name))).delivered.consumer_seq


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
        for name in ("single", "first", "second"):
            spawn(group, nats_server.client_env(), tmp_path, name)
        assert group.wait_ready(90) == [], "an evaluator did not become ready"
        published = 0
        for phase in phases():
            published += await bus.publish_all(js, phase)
            await wait_drained(js, group, ["single", "first", "second"])
        counts = {name: await delivered(js, name) for name in ("single", "first", "second")}
    finally:
        group.stop_all(timeout_s=60)
        await nc.close()
    assert [s.process.returncode for s in group.services] == [0, 0, 0]
    # Every message went to one of the two, and all of them to the single evaluator.
    assert counts["single"] == published == counts["first"] + counts["second"]
    assert min(counts["first"], counts["second"]) > 0

    stored = {n: stored_rows(tmp_path, n) for n in ("single", "first", "second")}
    single, first, second = stored["single"], stored["first"], stored["second"]
    assert_same_rows([first, second], [single])
    # The data is rich enough for the comparison to mean something.
    rows = {t: len(table_rows) for t, table_rows in single.items()}
    assert rows["organisations"] == len(REGIONS) * ORGS_PER_REGION
    assert rows["violations"] > 100 and rows["scorecards"] > 100, rows
    rules = Counter(json.loads(r)["rule"] for r in single["violations"])
    assert {"LOW_ENGAGEMENT", "COPIED_CONTENT", "UNANSWERED_COMMENT"} <= set(rules), rules

    # No page evaluated twice: each store holds only its own regions' organisations and pages.
    def pages(rows: list[str]) -> set[tuple[str, str, str]]:
        return {(r["org_id"], r["platform"], r["page_id"]) for r in map(json.loads, rows)}

    assert not pages(first["check_results"]) & pages(second["check_results"])
    for name, owned in (("first", range(HALF)), ("second", range(HALF, c.EVENT_PARTITIONS))):
        regions = {json.loads(r)["region"] for r in stored[name]["organisations"]}
        assert regions and all(c.region_partition(r) in owned for r in regions), (name, regions)

    assert_same_rollups(tmp_path, ["first", "second"], ["single"])


async def test_a_new_partition_set_takes_over_where_the_evaluator_left_off(
    tmp_path: Path, nats_server: Any, settings: Any
) -> None:
    """One evaluator for the register and the first sweep; then it stops and two halves start on
    copies of its store (as on a shared ClickHouse). Their new durables begin where it left off
    (it was drained: after the stream's last message), and the three stores hold what an evaluator
    that ran throughout stores — restarted at the same moment, as the halves start with a state
    loaded from the store (a restart writes each organisation's scorecard once more)."""
    reference_nats = EmbeddedNats(tmp_path / "reference-nats").start()
    here = await bus.connect(settings.nats_url, settings, "test")
    there = await bus.connect(
        reference_nats.url, Settings(_env_file=None, **reference_nats.client_settings()), "test"
    )
    js, reference_js = here.jetstream(), there.jetstream()
    for jetstream in (js, reference_js):
        await bus.ensure_topology(jetstream, settings)
    every = phases()
    before, after = every[:6], every[6:]  # the register and the first sweep; the second sweep
    groups = [ProcessGroup(tmp_path / "logs-before"), ProcessGroup(tmp_path / "logs-after")]
    try:
        spawn(groups[0], nats_server.client_env(), tmp_path, "single")
        spawn(groups[0], reference_nats.client_env(), tmp_path, REFERENCE)
        assert groups[0].wait_ready(90) == [], "an evaluator did not become ready"
        for phase in before:
            await bus.publish_all(js, phase)
            await bus.publish_all(reference_js, phase)
            await wait_drained(js, groups[0], ["single"])
            await wait_drained(reference_js, groups[0], [REFERENCE])
        groups[0].stop_all(timeout_s=60)
        assert [s.process.returncode for s in groups[0].services] == [0, 0]
        for half in ("first", "second"):
            shutil.copytree(tmp_path / "single", tmp_path / half, symlinks=True)  # relative links
            spawn(groups[1], nats_server.client_env(), tmp_path, half)
        spawn(groups[1], reference_nats.client_env(), tmp_path, REFERENCE)
        assert groups[1].wait_ready(90) == [], "an evaluator did not become ready"
        for phase in after:
            await bus.publish_all(js, phase)
            await bus.publish_all(reference_js, phase)
            await wait_drained(js, groups[1], ["first", "second"])
            await wait_drained(reference_js, groups[1], [REFERENCE])
        counts = {name: await delivered(js, name) for name in ("single", "first", "second")}
    finally:
        for group in groups:
            group.stop_all(timeout_s=60)
        await here.close()
        await there.close()
        reference_nats.stop()
    assert [s.process.returncode for s in groups[1].services] == [0, 0, 0]
    # Nothing read twice, nothing skipped: the halves began right after the single evaluator.
    assert counts["single"] == sum(len(p) for p in before)
    assert counts["first"] + counts["second"] == sum(len(p) for p in after)

    stored = {n: stored_rows(tmp_path, n) for n in ("single", "first", "second", REFERENCE)}
    # Each half holds the single evaluator's rows (its copy) and its own since.
    assert_same_rows([stored["first"], stored["second"]], [stored[REFERENCE], stored["single"]])
    assert_same_rollups(tmp_path, ["first", "second"], [REFERENCE, "single"])


def stored_rows(work: Path, name: str) -> dict[str, list[str]]:
    run_helper("dump", str(work / name / "clickhouse"), str(work / f"{name}.json"))
    return json.loads((work / f"{name}.json").read_text())


def assert_same_rows(got: list[dict[str, list[str]]], expected: list[dict[str, list[str]]]) -> None:
    """Every table's rows of the stores ``got`` together are those of ``expected`` together."""
    tables = set(expected[0])
    assert all(set(one) == tables for one in (*got, *expected))
    for table in sorted(tables):
        ours = sum((Counter(one[table]) for one in got), Counter())
        theirs = sum((Counter(one[table]) for one in expected), Counter())
        assert ours == theirs, (
            f"{table}: only in the first {list((ours - theirs).elements())[:3]}, "
            f"only in the second {list((theirs - ours).elements())[:3]}"
        )


def assert_same_rollups(work: Path, got: list[str], expected: list[str]) -> None:
    """The roll-ups of the stores ``got`` merged are those of ``expected`` merged."""
    merged = {}
    for label, names in (("got", got), ("expected", expected)):
        files = str(work / ("{" + ",".join(names) + "}.json.rollups.native"))
        run_helper("rollups", files, str(work / f"rollups-{label}.json"))
        rows = json.loads((work / f"rollups-{label}.json").read_text())
        merged[label] = {tuple(r[:4]): r[4:] for r in rows}
    assert merged["expected"] and merged["expected"].keys() == merged["got"].keys()
    for key, (mean, minimum, organisations_count) in merged["expected"].items():
        assert merged["got"][key][0] == pytest.approx(mean, rel=1e-9, abs=1e-12), key
        assert (merged["got"][key][1], merged["got"][key][2]) == (minimum, organisations_count)


if __name__ == "__main__":  # the helpers above, run in a process of their own
    command, *arguments = sys.argv[1:]
    {"dump": dump, "rollups": merged_rollups}[command](*arguments)
