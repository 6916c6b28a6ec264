"""Registry import and scheduling against a real nats-server; the embedded runtime itself."""

from pathlib import Path

import pytest

from gospublic import bus
from gospublic import contracts as c
from gospublic.apps.cli import main
from gospublic.registry import load_registry, parse_registry, store_registry
from gospublic.runtime import EmbeddedNats, find_nats_server, running_embedded_url
from services.collector.scheduler import schedule_sweep

pytestmark = pytest.mark.integration

HEADER = "ogrn,name,level,founder,municipality,sphere,exempt,vk,ok,telegram\n"
ROWS = [
    "1023601547177,Школа 1,municipal,Отдел образования,Лиски,education,0,https://vk.com/club101,,\n",
    "1023601547188,Школа 2,municipal,Отдел образования,Лиски,education,0,https://vk.com/club102,,\n",
    "1023601547199,Больница,regional,Минздрав,Лиски,health,0,,https://ok.ru/group/7,\n",
]


def test_nats_server_binary_is_found_beside_the_interpreter():
    assert find_nats_server().name == "nats-server"


def test_embedded_server_advertises_itself_and_cleans_up(tmp_path: Path):
    server = EmbeddedNats(tmp_path / "nats").start()
    assert running_embedded_url(tmp_path / "nats") == server.url
    server.stop()
    assert running_embedded_url(tmp_path / "nats") is None


async def test_import_stores_chunks_publishes_events_and_schedules(settings):
    organisations = parse_registry("r.csv", (HEADER + "".join(ROWS)).encode())
    nc = await bus.connect(settings.nats_url, settings, "test")
    js = nc.jetstream()
    await bus.ensure_topology(js, settings)

    version = await store_registry(js, "liski", organisations)
    assert await load_registry(js, "liski") == organisations
    # Re-importing the same register republishes nothing (deterministic message ids).
    assert await store_registry(js, "liski", organisations) == version
    events = await js.stream_info(c.EVENTS_STREAM)
    assert events.state.messages == 1

    settings_small = settings.model_copy(update={"collect_pages_per_task": 1})
    # Every platform the register links: two VK pages and one OK page, a page per task.
    sweep, tasks, pages = await schedule_sweep(js, settings_small, "liski", sweep_id="s1")
    assert (sweep, tasks, pages) == ("s1", 3, 3)
    _, again, _ = await schedule_sweep(js, settings_small, "liski", sweep_id="s1")
    assert again == 0
    sub = await js.pull_subscribe("tasks.collect.vk", durable="probe", stream=c.TASKS_STREAM)
    msgs = await sub.fetch(2, timeout=2)
    decoded = [c.decode(m.data) for m in msgs]
    assert sorted(p.native_id for t in decoded for p in t.pages) == ["101", "102"]
    await nc.close()


def test_cli_import_rejects_a_broken_register_and_writes_nothing(
    tmp_path, settings, monkeypatch, capsys
):
    for name, value in settings.nats_env().items():  # the URL and the server's credentials
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GOSPUBLIC_STATE_DIR", str(tmp_path / "state"))
    broken = tmp_path / "broken.csv"
    broken.write_text(HEADER + ROWS[0] + ROWS[0].replace("club101", "club103"), encoding="utf-8")
    assert main(["registry", "import", str(broken), "--region", "liski"]) == 2
    err = capsys.readouterr().err
    assert f"{broken}:3:1: ogrn: duplicate organisation, first listed on line 2" in err
    assert "nothing imported" in err

    good = tmp_path / "good.csv"
    good.write_text(HEADER + "".join(ROWS), encoding="utf-8")
    assert main(["registry", "import", str(good), "--region", "liski"]) == 0
    assert main(["registry", "show", "--region", "liski"]) == 0
    assert '"organisations": 3' in capsys.readouterr().out


def _register(n: int, first_id: int = 1000) -> str:
    """A valid register of ``n`` organisations, one VK page each."""
    from gospublic.registry import ogrn_check_digit

    rows = []
    for i in range(n):
        first = f"10236{i:07d}"
        ogrn = first + str(ogrn_check_digit(first))
        rows.append(f"{ogrn},Школа {i},municipal,Отдел,Лиски,education,0,club{first_id + i},,\n")
    return HEADER + "".join(rows)


async def test_a_failure_after_part_of_the_chunks_leaves_the_old_version_in_force(settings):
    """The pointer moves only once every chunk is stored and announced (issue 17, defect 2)."""
    from nats.js.api import DiscardPolicy

    from gospublic.registry import stored_meta as _meta

    nc = await bus.connect(settings.nats_url, settings, "test")
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        old = parse_registry("old.csv", _register(3).encode())
        old_version = await store_registry(js, "liski", old)
        # EVENTS takes two more messages: the new version's third chunk of four is refused.
        config = (await js.stream_info(c.EVENTS_STREAM)).config
        config.max_msgs, config.discard = 3, DiscardPolicy.NEW
        await js.update_stream(config)
        new = parse_registry("new.csv", _register(2000, first_id=5000).encode())
        with pytest.raises(bus.PublishError, match="maximum messages exceeded"):
            await store_registry(js, "liski", new)
        assert (await _meta(js, "liski"))["version"] == old_version
        assert await load_registry(js, "liski") == old
        # Room again: the same import completes, and what was announced is not announced twice.
        config.max_msgs = -1
        await js.update_stream(config)
        version = await store_registry(js, "liski", new)
        assert (await _meta(js, "liski")) == {
            "version": version,
            "chunks": 4,
            "organisations": 2000,
        }
        assert (await js.stream_info(c.EVENTS_STREAM)).state.messages == 1 + 4
    finally:
        await nc.close()


def test_cli_import_that_fails_says_so_in_one_line_and_keeps_the_old_version(
    tmp_path, settings, monkeypatch, capsys
):
    import asyncio

    for key, value in settings.nats_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GOSPUBLIC_STATE_DIR", str(tmp_path / "state"))
    old = tmp_path / "old.csv"
    old.write_text(_register(3), encoding="utf-8")
    assert main(["registry", "import", str(old), "--region", "liski"]) == 0
    capsys.readouterr()

    async def shrink_the_bucket() -> None:  # room for the old version and part of the new
        nc = await bus.connect(settings.nats_url, settings, "test")
        js = nc.jetstream()
        config = (await js.stream_info(f"KV_{c.REGISTRY_BUCKET}")).config
        config.max_bytes = 300_000
        await js.update_stream(config)
        await nc.close()

    asyncio.run(shrink_the_bucket())
    new = tmp_path / "new.csv"
    new.write_text(_register(2000, first_id=5000), encoding="utf-8")
    assert main(["registry", "import", str(new), "--region", "liski"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert err[0].startswith(f"{new}: реестр не импортирован (PublishError: ")
    assert err[0].endswith("в силе прежняя версия " + _version_of(old) + " (3 организаций)")
    assert main(["registry", "show", "--region", "liski"]) == 0
    assert '"organisations": 3' in capsys.readouterr().out


def _version_of(path) -> str:
    from gospublic.registry import check_registry_file

    return check_registry_file(path).version


def test_import_check_starts_no_nats_server(tmp_path, monkeypatch, capsys):
    import gospublic.apps.cli

    def no_server(settings):
        raise AssertionError("--check started or reached a NATS server")

    monkeypatch.setattr(gospublic.apps.cli, "nats_endpoint", no_server)
    monkeypatch.setenv("GOSPUBLIC_STATE_DIR", str(tmp_path / "state"))
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "".join(ROWS), encoding="utf-8")
    assert main(["registry", "import", str(good), "--check"]) == 0
    assert "valid, 3 organisations, 3 pages" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + ROWS[0] + ROWS[0], encoding="utf-8")
    assert main(["registry", "import", str(bad), "--check"]) == 2
    assert not (tmp_path / "state" / "nats").exists()
