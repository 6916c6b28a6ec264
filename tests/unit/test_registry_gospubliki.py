"""The register's ``gospubliki`` column: connected to «Госпаблики» yes / no / not known."""

import pytest

from gospublic.registry import RegistryError, parse_registry

HEADER = "ogrn,name,level,founder,municipality,sphere,exempt,gospubliki,vk,ok,telegram\n"
ROW = "1023601547177,МБОУ СОШ № 1,municipal,Отдел образования,Лиски,education,0,{},https://vk.com/club123,,\n"


@pytest.mark.parametrize(
    ("cell", "connected"),
    [("да", True), ("Да", True), ("1", True), ("yes", True), ("нет", False), ("0", False),
     ("no", False), ("", None), ("неизвестно", None)],
)  # fmt: skip
def test_the_connection_reads_yes_no_and_unknown(cell: str, connected: bool | None) -> None:
    [org] = parse_registry("reg.csv", (HEADER + ROW.format(cell)).encode())
    assert org.gospubliki is connected


def test_a_register_without_the_column_does_not_say() -> None:
    header = HEADER.replace(",gospubliki", "")
    row = ROW.replace(",{},", ",")
    [org] = parse_registry("reg.csv", (header + row).encode())
    assert org.gospubliki is None


def test_another_value_names_file_line_and_column() -> None:
    with pytest.raises(RegistryError) as caught:
        parse_registry("reg.csv", (HEADER + ROW.format("подключен")).encode())
    [error] = [str(e) for e in caught.value.errors]
    assert error.startswith("reg.csv:2:8: gospubliki: expected 1/0, yes/no, да/нет")
