"""The register parser: every bad row names file, line and column; nothing is half-accepted."""

import pytest

from gospublic.contracts import Platform
from gospublic.registry import RegistryError, ogrn_is_valid, parse_page_link, parse_registry

HEADER = "ogrn,name,level,founder,municipality,sphere,exempt,vk,ok,telegram\n"
GOOD = "1023601547177,МБОУ СОШ № 1,municipal,Отдел образования,Лиски,education,0,https://vk.com/club123,https://ok.ru/group/555,@school1\n"


def errors_of(text: str) -> list[str]:
    with pytest.raises(RegistryError) as caught:
        parse_registry("reg.csv", text.encode())
    return [str(e) for e in caught.value.errors]


def test_valid_register_is_parsed_with_pages():
    [org] = parse_registry("reg.csv", (HEADER + GOOD).encode())
    assert org.org_id == "1023601547177"
    assert [(p.platform, p.native_id) for p in org.pages] == [
        (Platform.VK, "123"),
        (Platform.OK, "555"),
        (Platform.TG, "school1"),
    ]
    assert org.exempt is False


def test_semicolon_separated_with_bom_is_accepted():
    text = "\ufeff" + (HEADER + GOOD).replace(",", ";")
    assert len(parse_registry("reg.csv", text.encode())) == 1


def test_missing_column_names_line_one_and_the_column():
    header = HEADER.replace(",sphere", "")
    line = GOOD.replace(",education", "")
    assert errors_of(header + line) == ["reg.csv:1:10: sphere: required column is missing"]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (GOOD.replace("1023601547177", "1023601547178"), "reg.csv:2:1: ogrn: not a valid OGRN"),
        (GOOD.replace("municipal", "town"), "reg.csv:2:3: level: unknown level 'town'"),
        (GOOD.replace(",0,", ",maybe,"), "reg.csv:2:7: exempt: expected"),
        (
            GOOD.replace("https://vk.com/club123", "https://facebook.com/x"),
            "reg.csv:2:8: vk: not a VK link",
        ),
        (
            GOOD.replace("https://ok.ru/group/555", "https://evil.example/ok"),
            "reg.csv:2:9: ok: not a OK link",
        ),
        (GOOD.replace("МБОУ СОШ № 1", ""), "reg.csv:2:2: name: empty"),
    ],
)
def test_bad_cells_are_reported_with_position(row, expected):
    [message] = errors_of(HEADER + row)
    assert message.startswith(expected)


def test_duplicate_organisation_and_duplicate_page_are_errors():
    second = GOOD.replace("МБОУ СОШ № 1", "Другая школа")
    messages = errors_of(HEADER + GOOD + second)
    assert "reg.csv:3:1: ogrn: duplicate organisation, first listed on line 2" in messages
    assert any(m.startswith("reg.csv:3:8: vk: page already listed") for m in messages)


def test_one_bad_row_rejects_the_whole_file():
    bad = GOOD.replace("1023601547177", "12345")
    with pytest.raises(RegistryError):
        parse_registry("reg.csv", (HEADER + GOOD.replace("club123", "club124") + bad).encode())


def test_binary_garbage_is_a_clear_error():
    with pytest.raises(RegistryError) as caught:
        parse_registry("reg.csv", b"\xff\xfe\x00\x81")
    assert "not UTF-8" in str(caught.value.errors[0])


@pytest.mark.parametrize(
    ("platform", "link", "native"),
    [
        (Platform.VK, "https://vk.com/club42", "42"),
        (Platform.VK, "vk.com/public42", "42"),
        (Platform.VK, "https://m.vk.com/school_5_liski", "school_5_liski"),
        (Platform.VK, "-42", "42"),
        (Platform.OK, "https://ok.ru/group/70000001", "70000001"),
        (Platform.OK, "ok.ru/liskischool", "liskischool"),
        (Platform.TG, "https://t.me/s/liski_news", "liski_news"),
        (Platform.TG, "@liski_news", "liski_news"),
    ],
)
def test_page_links(platform, link, native):
    assert parse_page_link(platform, link) == native


@pytest.mark.parametrize(
    "link",
    [
        "https://vk.com.evil.example/club1",
        "ftp://vk.com/club1",
        "javascript:alert(1)",
        "https://vk.com/",
    ],
)
def test_foreign_or_empty_links_are_rejected(link):
    with pytest.raises(ValueError):
        parse_page_link(Platform.VK, link)


def test_ogrn_control_digit():
    assert ogrn_is_valid("1023601547177")
    assert not ogrn_is_valid("1023601547170")
    assert not ogrn_is_valid("10236015471")
