"""Bad-input corpus for the register CSV: any bytes give either organisations whose pages are ids
on the platforms' own hosts, or ``RegistryError`` listing every problem with file, line, column and
reason (the import then writes nothing). Nothing else may escape.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gospublic import contracts as c
from gospublic import registry as r
from gospublic.platforms.descriptor import descriptor

CORPUS = settings(
    max_examples=400,
    deadline=None,
    database=None,  # the checkout is shared: keep no example database in it
    suppress_health_check=[HealthCheck.too_slow],
)

# MAX: a channel's public name may hold "-", its numeric id starts with one.
SAFE_ID = re.compile(r"^-?[A-Za-z0-9_.-]{1,64}$")
GOOD_OGRN = ["1023601547177", "1033600000015", "304500116000157"]
HOSTS = [
    "vk.com", "m.vk.com", "ok.ru", "t.me", "evil.example", "vk.com.evil.example", "127.0.0.1",
    "[::1]", "localhost", "vk.com@evil.example", "evil.example\\@vk.com", "VK.COM", "xn--vk-c.com",
    "", "vk.com:8080", "169.254.169.254", "max.ru", "max.ru.evil.example",
]  # fmt: skip
SCHEMES = ["https://", "http://", "", "ftp://", "file://", "javascript:", "//", "HTTPS://"]
PATHS = ["club123", "public1", "group/555", "s/school1", "school1", "a", "../../etc", "x?y=1",
         "club1#f", "-123", "%2e%2e", "id 1", "школа", "", "group/" + "9" * 70, "club" + "9" * 13,
         "group/１２", "group/-1", "group/1 2"]  # fmt: skip

links = (
    st.builds(
        lambda scheme, host, path: f"{scheme}{host}/{path}",
        st.sampled_from(SCHEMES),
        st.sampled_from(HOSTS),
        st.sampled_from(PATHS),
    )
    | st.sampled_from(["@school1", "@", "club123", "school1", " https://vk.com/club5 "])
    | st.text(max_size=30)
)
cells = st.sampled_from(["", "0", "1", "да", "нет", "municipal", "federal", "education", "Лиски"])
cells = cells | st.sampled_from(GOOD_OGRN) | st.text(max_size=20) | links


def check_link(platform: c.Platform, text: str) -> None:
    try:
        native_id = r.parse_page_link(platform, text)
    except ValueError as exc:
        assert str(exc).strip()
        return
    # What is accepted is an id or a screen name, never a URL: the collector builds the request
    # to the platform's own API from it, so no register can point it at another host.
    assert SAFE_ID.match(native_id), native_id
    stripped = text.strip()
    if "/" in stripped and not (platform == c.Platform.TG and stripped.startswith("@")):
        url = urlsplit(stripped if "://" in stripped else f"https://{stripped}")
        assert (url.hostname or "").lower() in descriptor(platform).hosts, text


@settings(CORPUS, max_examples=1500)
@given(st.sampled_from([c.Platform.VK, c.Platform.OK, c.Platform.TG, c.Platform.MAX]), links)
def test_page_links(platform: c.Platform, text: str) -> None:
    check_link(platform, text)


def rejected_or_accepted(data: bytes) -> list[c.Organisation] | list[r.RowError]:
    try:
        organisations = r.parse_registry("reg.csv", data)
    except r.RegistryError as exc:
        assert exc.errors, "a rejection names at least one problem"
        for error in exc.errors:
            assert error.line >= 1 and error.column >= 1 and error.column_name
            assert error.message.strip()
            assert str(error).startswith("reg.csv:")
        assert len(exc.errors) <= r.MAX_ERRORS_SHOWN + len(r.COLUMNS)
        return exc.errors
    assert organisations
    for org in organisations:
        assert r.ogrn_is_valid(org.org_id)
        for page in org.pages:
            assert SAFE_ID.match(page.native_id)
    return organisations


@CORPUS
@given(st.binary(max_size=400))
def test_any_bytes(data: bytes) -> None:
    rejected_or_accepted(data)


@settings(CORPUS, max_examples=800)
@given(
    st.lists(st.lists(cells, min_size=8, max_size=11), min_size=1, max_size=5),
    st.sampled_from([",", ";"]),
    st.booleans(),
)
def test_registers_with_generated_rows(rows: list[list[str]], sep: str, quote: bool) -> None:
    def line(cells: list[str]) -> str:
        if quote:
            return sep.join('"' + cell.replace('"', '""') + '"' for cell in cells)
        return sep.join(cells)

    text = "\n".join([sep.join(r.COLUMNS), *(line(row) for row in rows)]) + "\n"
    result = rejected_or_accepted(text.encode())
    if result and isinstance(result[0], c.Organisation):
        for org in result:
            assert len({p.platform for p in org.pages}) == len(org.pages)


@CORPUS
@given(st.sampled_from(HOSTS), st.sampled_from(PATHS))
def test_a_foreign_host_rejects_the_whole_register(host: str, path: str) -> None:
    link = f"https://{host}/{path}"
    text = (
        ",".join(r.COLUMNS) + f"\n1023601547177,Школа,municipal,Отдел,Лиски,education,0,{link},,\n"
    )
    result = rejected_or_accepted(text.encode())
    host_name = urlsplit(link).hostname or ""
    if host_name.lower() not in descriptor(c.Platform.VK).hosts:
        assert isinstance(result[0], r.RowError)
        assert result[0].column_name == "vk"


def test_a_name_longer_than_the_contract_allows_is_a_row_error() -> None:
    text = (
        ",".join(r.COLUMNS)
        + "\n1023601547177,"
        + "Я" * 1001
        + ",municipal,Отдел,Лиски,education,0,,,\n"
    )
    [error] = rejected_or_accepted(text.encode())
    assert (error.line, error.column_name) == (2, "name")
    assert "at most 1000 characters" in error.message


@pytest.mark.parametrize(
    ("platform", "text"),
    [
        (c.Platform.VK, "club١٢٣"),  # Arabic-Indic digits: \d and str.isdigit take them
        (c.Platform.VK, "https://vk.com/club１２"),  # fullwidth digits
        (c.Platform.VK, "-٤٥"),
        (c.Platform.OK, "ok.ru/group/١٢٣"),
    ],
)
def test_digits_of_other_scripts_are_not_page_ids(platform: c.Platform, text: str) -> None:
    with pytest.raises(ValueError):
        r.parse_page_link(platform, text)


def test_digits_of_other_scripts_are_not_an_ogrn() -> None:
    assert r.ogrn_is_valid("1023601547177")
    assert not r.ogrn_is_valid("١٠٢٣٦٠١٥٤٧١٧٧")


@pytest.mark.parametrize("digits", [21, 65, 201, 5000])
def test_an_ok_group_id_longer_than_any_real_one_is_rejected(digits: int) -> None:
    """An unbounded id broke the contract (200 characters: the import crashed with pydantic's
    error) or the ids' shape (65 digits), instead of naming the cell."""
    link = "https://ok.ru/group/" + "9" * digits
    with pytest.raises(ValueError, match="1 to 20 digits"):
        r.parse_page_link(c.Platform.OK, link)
    text = (
        ",".join(r.COLUMNS) + f"\n1023601547177,Школа,municipal,Отдел,Лиски,education,0,,{link},\n"
    )
    [error] = rejected_or_accepted(text.encode())
    assert (error.line, error.column_name) == (2, "ok")


def test_an_ok_group_id_of_twenty_digits_is_kept() -> None:
    assert r.parse_page_link(c.Platform.OK, "ok.ru/group/" + "7" * 20) == "7" * 20


HEADER = ",".join(r.COLUMNS)
ROW = "1023601547177,Школа,municipal,Отдел,Лиски,education,0,club1,,"
HUGE = "Я" * 200_000


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f"{HEADER}\n{ROW.replace('Школа', HUGE)}\n", 2),
        (f"{HEADER}\n{ROW}\n{ROW.replace('Школа', chr(34) + HUGE + chr(34))}\n", 3),
        (f"{HEADER},{HUGE}\n{ROW}\n", 1),
    ],
    ids=["cell", "quoted cell on the third line", "header"],
)
def test_a_cell_over_the_csv_readers_limit_is_an_error_with_its_line(text: str, line: int) -> None:
    """The csv module refuses a field over 128 KiB with ``csv.Error``, which escaped the import."""
    errors = rejected_or_accepted(text.encode())
    assert isinstance(errors[-1], r.RowError)
    assert errors[-1].line == line and "field larger than field limit" in errors[-1].message


@pytest.mark.parametrize(
    ("column", "first", "second"),
    [("vk", "club7", "https://vk.com/club007"), ("vk", "-7", "public0007"),
     ("ok", "ok.ru/group/555", "https://ok.ru/group/00555")],
)  # fmt: skip
def test_an_id_with_leading_zeros_is_the_same_page(column: str, first: str, second: str) -> None:
    """ "club007" was kept as page id "007", so the same page could be listed for two
    organisations without the duplicate check seeing it (the collectors read both as 7)."""
    vk, ok = ("{}", "") if column == "vk" else ("", "{}")
    row = "{},Школа,municipal,Отдел,Лиски,education,0," + f"{vk},{ok},\n"
    text = ",".join(r.COLUMNS) + "\n" + row.format("1023601547177", first)
    text += row.format("1033600000015", second)
    [error] = rejected_or_accepted(text.encode())
    assert (error.line, error.column_name) == (3, column)
    assert "page already listed" in error.message
