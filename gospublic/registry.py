"""The regional register: parse and validate a CSV, store it in NATS KV, announce it on EVENTS.

Parsing is pure and all-or-nothing: every row is checked first and any error (with file, line and
column) stops the import before a single byte is written. Storing is atomic for readers: the chunks
of a new version are written under versioned keys and the ``<region>.meta`` pointer moves last.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from pydantic import ValidationError

from gospublic import bus
from gospublic import contracts as c
from gospublic.settings import Settings

log = logging.getLogger("gospublic.registry")

COLUMNS = (
    "ogrn",
    "name",
    "level",
    "founder",
    "municipality",
    "sphere",
    "exempt",
    "vk",
    "ok",
    "telegram",
)
REQUIRED = ("ogrn", "name", "level", "founder", "municipality", "sphere")
LEVELS = ("federal", "regional", "municipal")
CHUNK_SIZE = 500
MAX_ERRORS_SHOWN = 50
REGION_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

_TRUE = {"1", "yes", "true", "да", "y", "+"}
_FALSE = {"", "0", "no", "false", "нет", "n", "-"}


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    column: int
    column_name: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.column_name}: {self.message}"


class RegistryError(Exception):
    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} error(s) in the register")
        self.errors = errors


# --- Page links --------------------------------------------------------------------------------

_SCREEN_NAME = re.compile(r"^[A-Za-z0-9_.]{2,64}$")
# [0-9], not \d: \d also takes other scripts' digits ("club١٢٣"), which no API call accepts.
_VK_NUMERIC = re.compile(r"^(?:club|public|event)?([0-9]{1,12})$")
# OK group ids are 14 digits today; the bound keeps an id within the contract's and the API's reach.
_OK_GROUP_ID = re.compile(r"[0-9]{1,20}")
_PLATFORM_HOSTS = {
    c.Platform.VK: {"vk.com", "m.vk.com", "vk.ru", "m.vk.ru", "www.vk.com"},
    c.Platform.OK: {"ok.ru", "m.ok.ru", "www.ok.ru", "odnoklassniki.ru"},
    c.Platform.TG: {"t.me", "telegram.me", "www.t.me"},
}


def parse_page_link(platform: c.Platform, text: str) -> str:
    """Return the native id or screen name of a page link; raise ValueError with the reason.

    Only the platform's own hosts are accepted, so a register can never make a collector request an
    arbitrary URL.
    """
    text = text.strip()
    if platform == c.Platform.TG and text.startswith("@"):
        path = text[1:]
    elif "/" in text:
        url = urlsplit(text if "://" in text else f"https://{text}")
        if url.scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) link: {text!r:.80}")
        host = (url.hostname or "").lower()
        if host not in _PLATFORM_HOSTS[platform]:
            raise ValueError(
                f"not a {platform.value.upper()} link (host {host!r:.60}): {text!r:.80}"
            )
        path = url.path.strip("/")
    else:
        path = text
    if platform == c.Platform.VK:
        numeric = _VK_NUMERIC.match(path.lstrip("-"))
        if numeric:
            # Without its leading zeros: "club007" is group 7, and a page is listed once.
            return str(int(numeric.group(1)))
    elif platform == c.Platform.OK:
        if path.startswith("group/"):
            path = path.removeprefix("group/")
            if not _OK_GROUP_ID.fullmatch(path):
                raise ValueError(f"OK group id is not a number of 1 to 20 digits: {text!r:.80}")
            return str(int(path))
    elif platform == c.Platform.TG:
        path = path.removeprefix("s/")
    if not _SCREEN_NAME.match(path):
        raise ValueError(f"no page id or screen name in {text!r:.80}")
    return path


# --- Organisation ids --------------------------------------------------------------------------


def ogrn_check_digit(first: str) -> int:
    """The control digit that follows the first 12 digits of an OGRN (or 14 of an OGRNIP)."""
    return int(first) % (13 if len(first) == 14 else 11) % 10


def ogrn_is_valid(value: str) -> bool:
    """OGRN (13 digits) and OGRNIP (15 digits) carry a control digit in the last position."""
    if not (value.isascii() and value.isdigit()) or len(value) not in (13, 15):
        return False
    return ogrn_check_digit(value[:-1]) == int(value[-1])


# --- Parsing -----------------------------------------------------------------------------------


def _rows(text: str) -> tuple[list[str], Iterator[tuple[int, list[str] | csv.Error]]]:
    """The header and the numbered rows. A row the reader refuses (a cell over its field size
    limit, 128 KiB) comes as its ``csv.Error`` and ends the rows; a refused header raises it."""
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, [])

    def numbered() -> Iterator[tuple[int, list[str] | csv.Error]]:
        try:
            for row in reader:
                yield reader.line_num, row
        except csv.Error as exc:
            yield reader.line_num, exc

    return [h.strip().lower() for h in header], numbered()


def parse_registry(name: str, data: bytes) -> list[c.Organisation]:
    """Validate every row; raise ``RegistryError`` listing all problems, or return all organisations."""
    errors: list[RowError] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RegistryError([RowError(name, 1, 1, "file", f"not UTF-8 text: {exc}")]) from None
    try:
        header, rows = _rows(text)
    except csv.Error as exc:
        raise RegistryError([RowError(name, 1, 1, "file", f"unreadable CSV: {exc}")]) from None
    if header and header[0] == "org_id":
        header[0] = "ogrn"
    missing = [col for col in COLUMNS if col not in header]
    if missing:
        raise RegistryError(
            [
                RowError(name, 1, len(header) + 1, col, "required column is missing")
                for col in missing
            ]
        )
    index = {col: header.index(col) for col in COLUMNS}

    organisations: list[c.Organisation] = []
    seen_orgs: dict[str, int] = {}
    seen_pages: dict[str, tuple[str, int]] = {}
    for line, row in rows:
        if isinstance(row, csv.Error):
            errors.append(RowError(name, line, 1, "row", f"unreadable CSV: {row}"))
            break
        if not any(cell.strip() for cell in row):
            continue

        def cell(col: str, row: list[str] = row) -> str:
            i = index[col]
            return row[i].strip() if i < len(row) else ""

        def error(col: str, message: str, line: int = line) -> None:
            errors.append(RowError(name, line, index[col] + 1, col, message))

        if len(row) > len(header):
            errors.append(RowError(name, line, len(header) + 1, "row", "more cells than columns"))
            continue
        for col in REQUIRED:
            if not cell(col):
                error(col, "empty")
        ogrn = cell("ogrn")
        if ogrn and not ogrn_is_valid(ogrn):
            error("ogrn", f"not a valid OGRN (13 or 15 digits with a control digit): {ogrn!r:.40}")
        elif ogrn in seen_orgs:
            error("ogrn", f"duplicate organisation, first listed on line {seen_orgs[ogrn]}")
        level = cell("level").lower()
        if level and level not in LEVELS:
            error("level", f"unknown level {level!r:.40}; expected one of {', '.join(LEVELS)}")
        exempt_text = cell("exempt").lower()
        if exempt_text not in _TRUE | _FALSE:
            error("exempt", f"expected 1/0, yes/no or да/нет, got {exempt_text!r:.20}")
        pages: list[c.PageRef] = []
        for col, platform in (
            ("vk", c.Platform.VK),
            ("ok", c.Platform.OK),
            ("telegram", c.Platform.TG),
        ):
            if not cell(col):
                continue
            try:
                native_id = parse_page_link(platform, cell(col))
            except ValueError as exc:
                error(col, str(exc))
                continue
            key = f"{platform.value}:{native_id.lower()}"
            if key in seen_pages:
                other, other_line = seen_pages[key]
                error(col, f"page already listed for organisation {other} on line {other_line}")
                continue
            seen_pages[key] = (ogrn, line)
            # A row with a bad OGRN is reported above; "?" keeps the page check going meanwhile.
            org_id = ogrn if ogrn_is_valid(ogrn) else "?"
            pages.append(c.PageRef(platform=platform, native_id=native_id, org_id=org_id))
        if len(errors) >= MAX_ERRORS_SHOWN:
            break
        if errors and errors[-1].line == line:
            continue
        try:
            organisation = c.Organisation(
                org_id=ogrn,
                name=cell("name"),
                level=level,
                founder=cell("founder"),
                municipality=cell("municipality"),
                sphere=cell("sphere").lower(),
                exempt=exempt_text in _TRUE,
                pages=tuple(pages),
            )
        except ValidationError as exc:  # e.g. a name longer than any real one
            for problem in exc.errors():
                field = str(problem["loc"][0]) if problem["loc"] else "row"
                column = "ogrn" if field == "org_id" else field
                if column in index:
                    error(column, problem["msg"])
                else:
                    errors.append(RowError(name, line, 1, column, problem["msg"]))
            continue
        seen_orgs[ogrn] = line
        organisations.append(organisation)
    if errors:
        raise RegistryError(errors)
    if not organisations:
        raise RegistryError([RowError(name, 2, 1, "file", "no organisations in the register")])
    return organisations


def registry_version(organisations: list[c.Organisation]) -> str:
    digest = hashlib.sha256()
    for org in organisations:
        digest.update(org.model_dump_json().encode())
    return digest.hexdigest()[:16]


# --- Storage in NATS KV ------------------------------------------------------------------------


def _chunks(organisations: list[c.Organisation]) -> list[list[c.Organisation]]:
    return [organisations[i : i + CHUNK_SIZE] for i in range(0, len(organisations), CHUNK_SIZE)]


async def store_registry(
    js: JetStreamContext, region: str, organisations: list[c.Organisation]
) -> str:
    """Write the register to KV (pointer last) and announce it on EVENTS; return its version."""
    version = registry_version(organisations)
    kv = await js.key_value(c.REGISTRY_BUCKET)
    chunks = _chunks(organisations)
    for n, chunk in enumerate(chunks):
        payload = json.dumps([org.model_dump(mode="json") for org in chunk], ensure_ascii=False)
        await kv.put(f"{region}.v{version}.chunk.{n:05d}", payload.encode())
    meta = {"version": version, "chunks": len(chunks), "organisations": len(organisations)}
    previous = await _meta(js, region)
    await kv.put(f"{region}.meta", json.dumps(meta).encode())
    if previous and previous["version"] != version:
        for n in range(previous["chunks"]):
            await kv.delete(f"{region}.v{previous['version']}.chunk.{n:05d}")

    now = c.utcnow()
    subject = c.event_subject("registry", "organisations")
    await bus.publish_all(
        js,
        [
            bus.event_message(
                subject,
                c.OrganisationsRegistered.create(
                    observed_at=now,
                    registry_version=version,
                    region=region,
                    chunk=n,
                    chunks=len(chunks),
                    organisations=tuple(chunk),
                ),
                region,
                version,
                n,
            )
            for n, chunk in enumerate(chunks)
        ],
    )
    return version


async def _meta(js: JetStreamContext, region: str) -> dict | None:
    kv = await js.key_value(c.REGISTRY_BUCKET)
    try:
        entry = await kv.get(f"{region}.meta")
    except KeyNotFoundError:
        return None
    return json.loads(entry.value) if entry.value else None


async def load_registry(js: JetStreamContext, region: str) -> list[c.Organisation]:
    """The current version of a region's register; empty if none was imported."""
    meta = await _meta(js, region)
    if meta is None:
        return []
    kv = await js.key_value(c.REGISTRY_BUCKET)
    organisations: list[c.Organisation] = []
    for n in range(meta["chunks"]):
        entry = await kv.get(f"{region}.v{meta['version']}.chunk.{n:05d}")
        organisations.extend(c.Organisation.model_validate(o) for o in json.loads(entry.value))
    return organisations


# --- Command -----------------------------------------------------------------------------------


def region_name(text: str) -> str:
    if not REGION_PATTERN.match(text):
        raise argparse.ArgumentTypeError(
            "a region name is lower-case latin letters, digits, '-' or '_' (e.g. voronezh)"
        )
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = sub.add_parser(
        "import",
        help="validate a register CSV and publish it",
        description="Validate FILE.csv (UTF-8, ',' or ';' separated) with the columns\n"
        f"{', '.join(COLUMNS)}.\nAll rows are checked first; any error stops the import and "
        "nothing is written.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("file", type=Path, help="the register, CSV")
    imp.add_argument("--region", type=region_name, default="default", help="region key (default)")
    imp.add_argument("--check", action="store_true", help="only validate, publish nothing")
    show = sub.add_parser("show", help="print the stored register's version and size")
    show.add_argument("--region", type=region_name, default="default", help="region key (default)")


def read_registry_file(path: Path) -> list[c.Organisation]:
    if path.suffix.lower() in (".xlsx", ".xls"):
        raise RegistryError(
            [RowError(str(path), 1, 1, "file", "spreadsheets are not read; save the sheet as CSV")]
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RegistryError([RowError(str(path), 1, 1, "file", exc.strerror or str(exc))]) from None
    return parse_registry(str(path), data)


async def serve(nats_url: str, settings: Settings, args: argparse.Namespace, stop) -> int:
    if args.action == "import":
        try:
            organisations = read_registry_file(args.file)
        except RegistryError as exc:
            for err in exc.errors:
                print(err, file=sys.stderr)
            print(f"{args.file}: nothing imported ({len(exc.errors)} error(s))", file=sys.stderr)
            return 2
        pages = sum(len(o.pages) for o in organisations)
        if args.check:
            print(f"{args.file}: valid, {len(organisations)} organisations, {pages} pages")
            return 0
    nc = await bus.connect(nats_url, settings, "registry")
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        if args.action == "show":
            meta = await _meta(js, args.region)
            print(json.dumps(meta or {}, ensure_ascii=False))
            return 0 if meta else 1
        version = await store_registry(js, args.region, organisations)
    finally:
        await nc.close()
    print(
        f"imported {len(organisations)} organisations with {pages} pages "
        f"into region {args.region!r}, version {version}"
    )
    return 0
