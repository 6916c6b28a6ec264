"""Госуслуги feedback widgets read from a VK community's ``menu`` (groups.getById ``fields=menu``).

The menu's shape (``menu.items[]`` with ``title`` and ``url``) and the widget links with their
tracking parameters follow public code that checks these widgets on real communities; the VK
schema lists ``menu`` only as a field name.
"""

from __future__ import annotations

from datetime import UTC, datetime

from gospublic import contracts as c
from gospublic.platforms import vk as vn

OGRN = "1023100000001"
PROBLEM = (
    f"https://pos.gosuslugi.ru/form/?opaId=123456&utm_source=vk&utm_medium=31&utm_campaign={OGRN}"
)
OPINION = (
    "https://pos.gosuslugi.ru/og/org-activities?mun_code=14701000&utm_source=vk2"
    f"&utm_medium=31&utm_campaign={OGRN}"
)


def group(**extra: object) -> dict:
    return {"id": 42, "name": "Администрация", "screen_name": "adm", "is_closed": 0, **extra}


def menu(*items: tuple[str, str]) -> dict:
    return {"items": [{"id": i, "title": t, "url": u, "type": "link"} for i, (t, u) in
                      enumerate(items)], "count": len(items)}  # fmt: skip


def test_both_widgets_are_read_with_their_tracking_parameters() -> None:
    g = group(menu=menu(("Сообщить о проблеме", PROBLEM), ("Сайт", "https://adm.ru"),
                        ("Высказать мнение", OPINION)))  # fmt: skip
    widgets = vn.snapshot_fields(g, frozenset({"menu"}))["widgets"]
    assert [w.kind for w in widgets] == ["problem", "opinion"]
    problem, opinion = widgets
    assert (problem.region_code, problem.ogrn, problem.source, problem.municipality_code) == (
        "31",
        OGRN,
        "vk",
        "",
    )
    assert (opinion.municipality_code, opinion.source, opinion.ogrn) == ("14701000", "vk2", OGRN)
    assert problem.title == "Сообщить о проблеме"


def test_a_widget_is_known_by_its_link_not_its_title() -> None:
    g = group(menu=menu(("Сообщить о проблеме", "https://example.ru/form/?opaId=1"),
                        ("Госуслуги", "https://www.POS.gosuslugi.ru/form/?opaId=7")))  # fmt: skip
    widgets = vn.snapshot_fields(g, frozenset({"menu"}))["widgets"]
    assert [(w.kind, w.title, w.ogrn) for w in widgets] == [("problem", "Госуслуги", "")]
    other = vn.widget_from_link("Опрос", "https://pos.gosuslugi.ru/landing/")
    assert other is not None and other.kind == "other"


def test_a_menu_not_requested_is_unknown_and_a_requested_absent_one_is_empty() -> None:
    assert vn.snapshot_fields(group(), None)["widgets"] is None
    assert vn.snapshot_fields(group(), frozenset({"description"}))["widgets"] is None
    assert vn.snapshot_fields(group(), frozenset({"menu"}))["widgets"] == ()
    assert vn.snapshot_fields(group(menu={"items": []}), None)["widgets"] == ()
    assert vn.snapshot_fields(group(menu=[]), None)["widgets"] == ()  # {} as PHP encodes it


def test_a_malformed_menu_names_the_field() -> None:
    for bad, where in (({"items": "x"}, "menu"), ({"items": [{"url": 5}]}, "menu.items[0]")):
        try:
            vn.snapshot_fields(group(menu=bad), frozenset({"menu"}))
        except vn.MalformedResponse as exc:
            assert where in exc.reason
        else:
            raise AssertionError(f"{bad!r} was accepted")


def test_the_collector_asks_for_the_menu() -> None:
    from services.collector.vk_collect import REQUESTED_FIELDS

    assert "menu" in REQUESTED_FIELDS


def test_a_snapshot_of_version_2_reads_with_its_menu_unknown() -> None:
    ref = c.PageRef(platform=c.Platform.VK, native_id="42", org_id=OGRN)
    snapshot = vn.build_snapshot(group(menu=menu(("Проблема", PROBLEM))), ref, "s1",
                                 datetime(2025, 6, 1, tzinfo=UTC), frozenset({"menu"}))  # fmt: skip
    data = snapshot.to_bytes()
    assert b'"PageSnapshot/3"' in data and snapshot.widgets[0].kind == "problem"
    old = data.replace(b'"PageSnapshot/3"', b'"PageSnapshot/2"')
    old = old[: old.index(b',"widgets"')] + b"}"
    event = c.decode(old)
    assert event.schema_ == "PageSnapshot/3" and event.widgets is None
    assert c.decode(data) == snapshot


def test_a_register_chunk_of_version_1_reads_with_the_connection_unknown() -> None:
    org = c.Organisation(org_id=OGRN, name="Администрация", level="municipal", founder="",
                         municipality="", sphere="administration", gospubliki=True)  # fmt: skip
    event = c.OrganisationsRegistered.create(
        observed_at=datetime(2025, 6, 1, tzinfo=UTC), registry_version="v", region="31",
        chunk=0, chunks=1, organisations=(org,),
    )  # fmt: skip
    from services.evaluator import fastdecode

    assert fastdecode.decode(event.to_bytes()).organisations[0].gospubliki is True
    old = event.to_bytes().replace(b"OrganisationsRegistered/2", b"OrganisationsRegistered/1")
    old = old.replace(b',"gospubliki":true', b"")
    assert c.decode(old).organisations[0].gospubliki is None


def test_the_ok_state_mark_is_read_when_the_answer_carries_it() -> None:
    from gospublic.platforms import ok

    ref = c.PageRef(platform=c.Platform.OK, native_id="555", org_id=OGRN)
    at = datetime(2025, 6, 1, tzinfo=UTC)
    base = {"uid": "555", "name": "Администрация"}
    assert ok.build_snapshot({**base, "gos_org": True}, ref, "s", at).is_government_organization
    assert ok.build_snapshot(base, ref, "s", at).is_government_organization is None
    try:
        ok.build_snapshot({**base, "gos_org": "yes"}, ref, "s", at)
    except vn.MalformedResponse as exc:
        assert "gos_org" in exc.reason
    else:
        raise AssertionError("a string mark was accepted")
