"""Platform descriptors: one per platform, read by the register and the rest of the product."""

import pytest

from gospublic import contracts as c
from gospublic.platforms import max as max_platform
from gospublic.platforms.descriptor import descriptor, descriptors, entry, platform_ids
from gospublic.registry import COLUMNS, RegistryError, parse_page_link, parse_registry

HEADER = "ogrn,name,level,founder,municipality,sphere,exempt,vk,ok,telegram,max\n"
ROW = "1023601547177,МБОУ СОШ № 1,municipal,Отдел образования,Лиски,education,0,https://vk.com/club123,,@school1,{max}\n"


def errors_of(text: str) -> list[str]:
    with pytest.raises(RegistryError) as caught:
        parse_registry("reg.csv", text.encode())
    return [str(e) for e in caught.value.errors]


def test_every_platform_of_the_contract_has_one_descriptor_in_the_register_order():
    assert platform_ids() == ("vk", "ok", "tg", "max")
    assert {d.platform for d in descriptors()} == set(c.Platform)
    assert [d.column for d in descriptors()] == ["vk", "ok", "telegram", "max"]
    # The platform columns, then the organisation's «Госпаблики» connection (optional).
    assert COLUMNS[-5:] == ("vk", "ok", "telegram", "max", "gospubliki")


def test_only_vk_and_ok_are_on_the_legal_list():
    assert [d.id for d in descriptors() if d.legal] == ["vk", "ok"]


@pytest.mark.parametrize("platform", list(c.Platform))
def test_entry_points_name_a_collect_module_and_a_simulator(platform):
    d = descriptor(platform)
    module = entry(d.collector)
    assert callable(module.collect)
    assert callable(module.make_client)
    assert callable(entry(d.simulator))


@pytest.mark.parametrize(
    ("cell", "native"),
    [
        ("https://max.ru/minobr_gos", "minobr_gos"),
        ("max.ru/Minobr-36_gos/", "Minobr-36_gos"),
        ("minobr_gos", "minobr_gos"),
        ("-72000000000004", "-72000000000004"),
    ],
)
def test_max_cells_give_a_name_or_an_id_as_the_mapping_reads_them(cell, native):
    assert parse_page_link(c.Platform.MAX, cell) == native
    assert max_platform.ref_from_link(cell) == native


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("https://max.ru/join/AbCdEf", "not a MAX channel"),
        ("https://evil.example/minobr_gos", "not a MAX link"),
        ("https://max.ru:8443/minobr_gos", "not a plain MAX link"),
        ("https://evil.example\\@max.ru/x", "not a plain MAX link"),
        ("ftp://max.ru/minobr_gos", r"not an http\(s\) link"),
        ("https://max.ru/%6Dinobr", "not a plain MAX page link"),
        ("https://max.ru/about", "not a MAX channel"),
    ],
)
def test_max_cells_are_held_to_the_plain_link_rule(cell, reason):
    with pytest.raises(ValueError, match=reason):
        parse_page_link(c.Platform.MAX, cell)


def test_the_register_reads_a_max_column_with_its_pages():
    [org] = parse_registry(
        "reg.csv", (HEADER + ROW.format(max="https://max.ru/school1_gos")).encode()
    )
    assert [(p.platform, p.native_id) for p in org.pages] == [
        (c.Platform.VK, "123"),
        (c.Platform.TG, "school1"),
        (c.Platform.MAX, "school1_gos"),
    ]


def test_a_bad_max_cell_is_named_with_file_line_and_column():
    [error] = errors_of(HEADER + ROW.format(max="https://max.ru/join/abc"))
    assert error.startswith("reg.csv:2:11: max: not a MAX channel")


def test_the_same_max_channel_twice_is_a_duplicate_whatever_its_case():
    second = ROW.replace("1023601547177", "1033600000015").replace("club123", "club124")
    second = second.replace("@school1", "@school2")
    text = HEADER + ROW.format(max="school1_gos") + second.format(max="https://max.ru/School1_GOS")
    [error] = errors_of(text)
    assert error.startswith("reg.csv:3:11: max: page already listed for organisation 1023601547177")


def test_a_register_written_before_max_still_reads_without_its_column():
    header = HEADER.removesuffix(",max\n") + "\n"
    row = ROW.format(max="").removesuffix(",\n") + "\n"
    [org] = parse_registry("reg.csv", (header + row).encode())
    assert {p.platform for p in org.pages} == {c.Platform.VK, c.Platform.TG}


def test_the_older_platform_columns_stay_required():
    header = HEADER.replace(",telegram", "")
    row = ROW.format(max="").replace(",@school1", "")
    assert errors_of(header + row) == ["reg.csv:1:11: telegram: required column is missing"]


@pytest.mark.parametrize(
    ("platform", "native", "url"),
    [
        (c.Platform.VK, "123", "https://vk.com/club123"),
        (c.Platform.VK, "gorod", "https://vk.com/gorod"),
        (c.Platform.OK, "555", "https://ok.ru/group/555"),
        (c.Platform.TG, "school1", "https://t.me/school1"),
        (c.Platform.MAX, "school1_gos", "https://max.ru/school1_gos"),
    ],
)
def test_each_descriptor_gives_the_page_url(platform, native, url):
    assert descriptor(platform).page_url(native) == url


def _org(ogrn: str, *pages: tuple[c.Platform, str]) -> c.Organisation:
    return c.Organisation(
        org_id=ogrn, name="Школа", level="municipal", founder="Отдел", municipality="Лиски",
        sphere="education",
        pages=tuple(c.PageRef(platform=p, native_id=n, org_id=ogrn) for p, n in pages),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("", [c.Platform.VK, c.Platform.TG, c.Platform.MAX]),  # what the register links
        ("vk", [c.Platform.VK]),
        ("max,vk", [c.Platform.VK, c.Platform.MAX]),
    ],
)
def test_sweeps_schedule_every_platform_the_register_links_by_default(
    monkeypatch, configured, expected
):
    from gospublic.settings import Settings
    from services.collector.scheduler import default_platforms

    monkeypatch.setenv("GOSPUBLIC_COLLECT_PLATFORMS", configured)
    register = [
        _org("1023601547177", (c.Platform.VK, "1"), (c.Platform.MAX, "school1_gos")),
        _org("1033600000015", (c.Platform.TG, "school2")),
    ]
    assert default_platforms(Settings(_env_file=None), register) == expected


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({}, "GOSPUBLIC_MAX_TOKEN"),
        ({"GOSPUBLIC_MAX_TOKEN": "t"}, None),
    ],
)
def test_the_collector_entry_is_the_descriptors(monkeypatch, env, reason):
    from gospublic.settings import Settings
    from services.collector.main import make_client
    from services.collector.max_client import MaxClient

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    made = make_client("max", Settings(_env_file=None))
    if reason is not None:
        assert isinstance(made, str) and reason in made
    else:
        client, collect = made
        assert isinstance(client, MaxClient)
        assert collect is entry(descriptor(c.Platform.MAX).collector).collect
