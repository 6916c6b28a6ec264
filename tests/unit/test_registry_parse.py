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


@pytest.mark.parametrize(
    ("platform", "link"),
    [
        (Platform.TG, "https://t.me/.."),  # was read as the channel ".."
        (Platform.TG, "https://t.me/s/.."),
        (Platform.VK, "https://vk.com/.."),
        (Platform.VK, "https://vk.com/a..b"),
        (Platform.VK, "https://evil.example\\@vk.com/club1"),  # was read as VK group 1
        (Platform.VK, "evil.example\\@vk.com/club1"),
        (Platform.VK, "https://user:pass@vk.com/club1"),
        (Platform.VK, "https://vk.com:8443/club1"),
        (Platform.VK, "https://vk.com\\club1"),
        (Platform.VK, "https://vk.com/club1/../club2"),
        (Platform.VK, "https://vk.com/%63lub1"),
        (Platform.OK, "https://ok.ru@evil.example/group/1"),
        (Platform.OK, "https://ok.ru/group/1/../2"),
        (Platform.TG, "https://t.me/ab"),  # the collector reads channel names of 4 to 64
        (Platform.TG, "@abc"),
        (Platform.TG, "https://t.me/liski.news"),
        (Platform.TG, "https://t.me/liski_news/12"),
        (Platform.VK, "https://vk.com/club1\x00"),
    ],
)
def test_what_is_not_a_plain_platform_link_is_refused(platform, link):
    with pytest.raises(ValueError):
        parse_page_link(platform, link)


@pytest.mark.parametrize(
    ("platform", "link", "native"),
    [
        (Platform.VK, "http://vk.com/club42/", "42"),
        (Platform.VK, "HTTPS://VK.COM/club42", "42"),
        (Platform.VK, "https://vk.com/club42?w=wall-42_1", "42"),
        (Platform.VK, "https://vk.com/school.5", "school.5"),
        (Platform.TG, "t.me/liski_news", "liski_news"),
        (Platform.TG, "@abcd", "abcd"),
    ],
)
def test_plain_links_are_still_read(platform, link, native):
    assert parse_page_link(platform, link) == native


def test_the_register_and_the_telegram_collector_share_one_name_rule():
    """Issue 14: a name the collector refuses is refused at import, by the same definition."""
    from gospublic.platforms import tg

    for name in ("ab", "abc", "a.bc", "liski_news", "x" * 64, "x" * 65, "abc\n"):
        accepted = tg.CHANNEL_NAME.match(name) is not None and "\n" not in name
        try:
            parse_page_link(Platform.TG, f"@{name}")
            refused = False
        except ValueError:
            refused = True
        assert refused == (not accepted), name


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (GOOD.replace("@school1", "@sch"), "reg.csv:2:10: telegram: not a Telegram channel name"),
        (GOOD.replace("@school1", "https://t.me/s/sc"), "reg.csv:2:10: telegram: not a Telegram"),
        (GOOD.replace("МБОУ СОШ № 1", "МБОУ\x07 СОШ"), "reg.csv:2:2: name: control character"),
        (GOOD.replace("Лиски", "Ли\x1bски"), "reg.csv:2:5: municipality: control character"),
        # A quoted cell over two lines: the row is named by the line it ends on, as every row is.
        (GOOD.replace("МБОУ СОШ № 1", '"МБОУ\nСОШ"'), "reg.csv:3:2: name: control character"),
        (GOOD.replace("Отдел образования", "Отдел\u0085 обр"), "reg.csv:2:4: founder: control"),
        (GOOD.replace("МБОУ СОШ № 1", "МБОУ \u202eСОШ"), "reg.csv:2:2: name: control character"),
        (GOOD.replace("Лиски", "\u2066Лиски\u2069"), "reg.csv:2:5: municipality: control"),
    ],
)
def test_cells_the_collector_or_a_reader_cannot_take_are_refused_with_position(row, expected):
    [message] = errors_of(HEADER + row)
    assert message.startswith(expected), message


def test_a_column_listed_twice_is_refused_at_its_position():
    header = HEADER.replace("\n", ",vk\n")
    assert errors_of(header + GOOD.replace("\n", ",https://vk.com/club9\n")) == [
        "reg.csv:1:11: vk: column listed twice (first as column 8)"
    ]


def test_a_file_is_checked_line_by_line_with_the_same_verdicts(tmp_path):
    from gospublic.registry import check_registry_file, read_registry_file, registry_version

    path = tmp_path / "reg.csv"
    second = GOOD.replace("1023601547177", "1023601547188").replace("club123", "club124")
    second = second.replace("group/555", "group/556").replace("@school1", "@school2")
    path.write_bytes(("\ufeff" + HEADER + GOOD + "\n" + second).encode())
    organisations = read_registry_file(path)
    summary = check_registry_file(path)
    assert (summary.organisations, summary.pages) == (2, 6)
    assert summary.version == registry_version(organisations)
    # A line that is not UTF-8 is named by its number, though the file is read in pieces.
    path.write_bytes((HEADER + GOOD + second).encode() + b"\xff\xfe,x\n")
    with pytest.raises(RegistryError) as caught:
        check_registry_file(path)
    assert str(caught.value.errors[0]).startswith(f"{path}:4:1: file: not UTF-8 text")
