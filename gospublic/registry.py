"""The regional register: parse and validate a CSV, store it in NATS KV, announce it on EVENTS.

The command that imports a file is ``gospublic.apps.registry``; the services read the register
through this module.

Parsing is pure and all-or-nothing: every row is checked first and any error (with file, line and
column) stops the import before a single byte is written. Storing is atomic for readers: the chunks
of a new version are written under versioned keys and the ``<region>.meta`` pointer moves last.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import itertools
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from pydantic import ValidationError

from gospublic import bus
from gospublic import contracts as c
from gospublic.platforms.descriptor import CONTROL, descriptor, descriptors

log = logging.getLogger("gospublic.registry")

REQUIRED = ("ogrn", "name", "level", "founder", "municipality", "sphere")
# One column per platform, named by its descriptor (vk, ok, telegram, max).
PLATFORM_COLUMNS = tuple(d.column for d in descriptors())
COLUMNS = (*REQUIRED, "exempt", *PLATFORM_COLUMNS, "gospubliki")
# Columns a register may lack: a platform added after the register was written, and whether the
# body is connected to the «Госпаблики» component of Госуслуги (no platform API shows it).
OPTIONAL_COLUMNS = frozenset(d.column for d in descriptors() if d.column_optional) | {"gospubliki"}
LEVELS = ("federal", "regional", "municipal")
CHUNK_SIZE = 500
MAX_ERRORS_SHOWN = 50
REGION_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

_TRUE = {"1", "yes", "true", "да", "y", "+"}
_FALSE = {"", "0", "no", "false", "нет", "n", "-"}
# ``gospubliki``: an empty cell is "the register does not say", not "no".
_CONNECTED = {"1", "yes", "true", "да", "y", "+"}
_NOT_CONNECTED = {"0", "no", "false", "нет", "n", "-"}
_CONNECTION_UNKNOWN = {"", "unknown", "неизвестно", "?"}


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

# Control characters (C0, DEL, C1) and bidirectional controls in a cell: no register means them,
# and they reorder or hide what a reader of a report or an e-mail sees (the outputs strip them
# too, see gospublic.display).
_CONTROL = CONTROL


def parse_page_link(platform: c.Platform, text: str) -> str:
    """Return the native id or screen name of a page link; raise ValueError with the reason.

    Only plain links to the platform's own hosts are accepted (http or https, the host exactly,
    no user, port or backslash, a path of the platform's form), so a register can never make a
    collector request an arbitrary URL. Names are held to the rule the collector reads them by.
    The rules are the platform's descriptor's (``Descriptor.parse_cell``).
    """
    return descriptor(platform).parse_cell(text)


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


def _rows(
    lines: Iterator[str],
) -> tuple[list[str], Iterator[tuple[int, list[str] | csv.Error | UnicodeDecodeError]]]:
    """The header and the numbered rows of the text lines. A row the reader refuses (a cell over
    its field size limit, 128 KiB; a line that is not UTF-8) comes as its error and ends the
    rows; a refused header raises it."""
    first_line = next(lines, "")
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(itertools.chain([first_line], lines), delimiter=delimiter)
    header = next(reader, [])

    def numbered() -> Iterator[tuple[int, list[str] | csv.Error | UnicodeDecodeError]]:
        try:
            for row in reader:
                yield reader.line_num, row
        except csv.Error as exc:
            yield reader.line_num, exc
        except UnicodeDecodeError as exc:  # raised reading the next line, not yet counted
            yield reader.line_num + 1, exc

    return [h.strip().lower() for h in header], numbered()


def decoded_lines(binary: Iterable[bytes]) -> Iterator[str]:
    """UTF-8 lines of a file read line by line (a byte-order mark dropped): memory is one line,
    and a line that is not UTF-8 raises at that line."""
    for n, raw in enumerate(binary):
        text = raw.decode("utf-8")
        yield text.removeprefix("\ufeff") if n == 0 else text


@dataclass
class RegistrySummary:
    """What a valid register holds, counted without keeping it."""

    organisations: int
    pages: int
    version: str


def iter_registry(name: str, lines: Iterator[str]) -> Iterator[c.Organisation]:
    """Validate the rows one by one and yield each valid organisation; at the end, raise
    ``RegistryError`` listing the problems if there were any (so a caller may store what it
    is given only after a complete pass that raised nothing).

    Memory stays bounded by what the duplicate checks remember: one small integer per
    organisation and per page, not the organisations.
    """
    errors: list[RowError] = []
    try:
        header, rows = _rows(lines)
    except (csv.Error, UnicodeDecodeError) as exc:
        kind = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "unreadable CSV"
        raise RegistryError([RowError(name, 1, 1, "file", f"{kind}: {exc}")]) from None
    if header and header[0] == "org_id":
        header[0] = "ogrn"
    first_column: dict[str, int] = {}
    for i, column in enumerate(header):
        if column and column in first_column:
            errors.append(
                RowError(
                    name, 1, i + 1, column,
                    f"column listed twice (first as column {first_column[column] + 1})",
                )
            )  # fmt: skip
        first_column.setdefault(column, i)
    missing = [col for col in COLUMNS if col not in header and col not in OPTIONAL_COLUMNS]
    errors.extend(
        RowError(name, 1, len(header) + 1, col, "required column is missing") for col in missing
    )
    if errors:
        raise RegistryError(errors)
    index = {col: header.index(col) for col in COLUMNS if col in header}

    count = 0
    seen_orgs: dict[int, int] = {}  # OGRN → its line
    seen_pages: dict[int | str, int] = {}  # page key → its line << 50 | its OGRN (0: invalid)
    for line, row in rows:
        if isinstance(row, UnicodeDecodeError):
            errors.append(RowError(name, line, 1, "file", f"not UTF-8 text: {row}"))
            break
        if isinstance(row, csv.Error):
            errors.append(RowError(name, line, 1, "row", f"unreadable CSV: {row}"))
            break
        if not any(cell.strip() for cell in row):
            continue

        def cell(col: str, row: list[str] = row) -> str:
            i = index.get(col, len(row))
            return row[i].strip() if i < len(row) else ""

        def error(col: str, message: str, line: int = line) -> None:
            errors.append(RowError(name, line, index[col] + 1, col, message))

        if len(row) > len(header):
            errors.append(RowError(name, line, len(header) + 1, "row", "more cells than columns"))
            continue
        controls = [i for i, text in enumerate(row) if _CONTROL.search(text.strip())]
        for i in controls:
            found = _CONTROL.search(row[i].strip())
            assert found is not None
            errors.append(
                RowError(
                    name, line, i + 1, header[i] or "row",
                    f"control character {found.group()!r} in the cell",
                )
            )  # fmt: skip
        if controls:
            if len(errors) >= MAX_ERRORS_SHOWN:
                break
            continue
        for col in REQUIRED:
            if not cell(col):
                error(col, "empty")
        ogrn = cell("ogrn")
        valid_ogrn = ogrn_is_valid(ogrn)
        if ogrn and not valid_ogrn:
            error("ogrn", f"not a valid OGRN (13 or 15 digits with a control digit): {ogrn!r:.40}")
        elif valid_ogrn and int(ogrn) in seen_orgs:
            error("ogrn", f"duplicate organisation, first listed on line {seen_orgs[int(ogrn)]}")
        level = cell("level").lower()
        if level and level not in LEVELS:
            error("level", f"unknown level {level!r:.40}; expected one of {', '.join(LEVELS)}")
        exempt_text = cell("exempt").lower()
        if exempt_text not in _TRUE | _FALSE:
            error("exempt", f"expected 1/0, yes/no or да/нет, got {exempt_text!r:.20}")
        connected_text = cell("gospubliki").lower()
        if connected_text not in _CONNECTED | _NOT_CONNECTED | _CONNECTION_UNKNOWN:
            error(
                "gospubliki",
                f"expected 1/0, yes/no, да/нет or an empty cell (not known), "
                f"got {connected_text!r:.20}",
            )
        pages: list[c.PageRef] = []
        for platform_descriptor in descriptors():
            col, platform = platform_descriptor.column, platform_descriptor.platform
            if not cell(col):
                continue
            try:
                native_id = platform_descriptor.parse_cell(cell(col))
            except ValueError as exc:
                error(col, str(exc))
                continue
            key = _page_key(platform, native_id)
            if key in seen_pages:
                other_line, other = seen_pages[key] >> 50, seen_pages[key] & _OGRN_MASK
                error(
                    col,
                    f"page already listed for organisation {other or '?'} on line {other_line}",
                )
                continue
            seen_pages[key] = line << 50 | (int(ogrn) if valid_ogrn else 0)
            # A row with a bad OGRN is reported above; "?" keeps the page check going meanwhile.
            org_id = ogrn if valid_ogrn else "?"
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
                gospubliki=(
                    True
                    if connected_text in _CONNECTED
                    else False
                    if connected_text in _NOT_CONNECTED
                    else None
                ),
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
        seen_orgs[int(ogrn)] = line
        count += 1
        if not errors:
            yield organisation
    if errors:
        raise RegistryError(errors)
    if not count:
        raise RegistryError([RowError(name, 2, 1, "file", "no organisations in the register")])


_OGRN_MASK = (1 << 50) - 1  # an OGRNIP (15 digits) is below 2**50
_PLATFORM_NUMBER = {d.platform: n for n, d in enumerate(descriptors())}


def _page_key(platform: c.Platform, native_id: str) -> int | str:
    """A page's key for the duplicate check: a number for numeric ids (most pages), small."""
    if native_id.isascii() and native_id.isdigit():
        return int(native_id) * len(_PLATFORM_NUMBER) + _PLATFORM_NUMBER[platform]
    return f"{platform.value}:{native_id.lower()}"


def parse_registry(name: str, data: bytes) -> list[c.Organisation]:
    """Validate every row; raise ``RegistryError`` listing all problems, or return all organisations."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RegistryError([RowError(name, 1, 1, "file", f"not UTF-8 text: {exc}")]) from None
    return list(iter_registry(name, iter(io.StringIO(text, newline=""))))


def summarise_registry(name: str, lines: Iterator[str]) -> RegistrySummary:
    """Validate a whole register in bounded memory: its counts and version, or RegistryError."""
    digest, organisations, pages = hashlib.sha256(), 0, 0
    for organisation in iter_registry(name, lines):
        digest.update(organisation.model_dump_json().encode())
        organisations += 1
        pages += len(organisation.pages)
    return RegistrySummary(organisations, pages, digest.hexdigest()[:16])


def registry_version(organisations: list[c.Organisation]) -> str:
    digest = hashlib.sha256()
    for org in organisations:
        digest.update(org.model_dump_json().encode())
    return digest.hexdigest()[:16]


# --- Storage in NATS KV ------------------------------------------------------------------------


# Chunks written to KV and announced on EVENTS at a time: memory holds this many chunks, and the
# server this many unacknowledged publishes of each kind (see ``bus.publish_paced``).
WINDOW_CHUNKS = 16


def _chunks(organisations: Iterable[c.Organisation]) -> Iterator[list[c.Organisation]]:
    chunk: list[c.Organisation] = []
    for organisation in organisations:
        chunk.append(organisation)
        if len(chunk) == CHUNK_SIZE:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class ImportFailed(Exception):
    """Storing or announcing a register failed; the pointer did not move."""


async def store_registry(
    js: JetStreamContext,
    region: str,
    organisations: Iterable[c.Organisation],
    summary: RegistrySummary | None = None,
) -> str:
    """Store the register's chunks in KV and announce them on EVENTS, then move the
    ``<region>.meta`` pointer, then drop the old version's chunks; return the version.

    The pointer moves only once every chunk it points to is stored and announced, so a failure
    on the way (raised as it comes) leaves the old version in force for ``registry show``, the
    scheduler and every KV reader. What was announced before a failure is announced again
    under the same message ids by the next import of the same file, and deduplicated.
    With ``summary`` (from ``summarise_registry``) the organisations may be a stream read once:
    memory holds ``WINDOW_CHUNKS`` chunks.
    """
    if summary is None:
        organisations = list(organisations)
        summary = RegistrySummary(
            len(organisations),
            sum(len(o.pages) for o in organisations),
            registry_version(organisations),
        )
    version = summary.version
    total = -(-summary.organisations // CHUNK_SIZE)
    kv = await js.key_value(c.REGISTRY_BUCKET)
    now = c.utcnow()
    subject = c.registry_subject(region)  # the region's partition (see contracts)
    digest, stored, window = hashlib.sha256(), 0, []
    for n, chunk in enumerate(_chunks(organisations)):
        for organisation in chunk:
            digest.update(organisation.model_dump_json().encode())
        payload = json.dumps([org.model_dump(mode="json") for org in chunk], ensure_ascii=False)
        key = f"$KV.{c.REGISTRY_BUCKET}.{region}.v{version}.chunk.{n:05d}"
        window.append(bus.Outgoing(key, payload.encode(), ""))  # KV: last write wins
        event = c.OrganisationsRegistered.create(
            observed_at=now,
            registry_version=version,
            region=region,
            chunk=n,
            chunks=total,
            organisations=tuple(chunk),
        )
        window.append(bus.event_message(subject, event, region, version, n))
        stored += 1
        if len(window) >= 2 * WINDOW_CHUNKS:
            await bus.publish_paced(js, window, window=2 * WINDOW_CHUNKS)
            window = []
    await bus.publish_paced(js, window, window=2 * WINDOW_CHUNKS)
    if stored != total or digest.hexdigest()[:16] != version:
        raise ImportFailed("the file changed while it was imported; import it again")

    meta = {"version": version, "chunks": total, "organisations": summary.organisations}
    previous = await stored_meta(js, region)
    await kv.put(f"{region}.meta", json.dumps(meta).encode())
    if previous and previous["version"] != version:
        try:
            for n in range(previous["chunks"]):
                await kv.delete(f"{region}.v{previous['version']}.chunk.{n:05d}")
        except (NatsError, TimeoutError, OSError) as exc:  # the import is done; only space is lost
            log.warning(
                "the previous version's chunks were not all deleted",
                extra={"version": previous["version"], "error": str(exc)},
            )
    return version


async def stored_meta(js: JetStreamContext, region: str) -> dict | None:
    """The ``<region>.meta`` pointer: the version in force, its chunks and organisations."""
    kv = await js.key_value(c.REGISTRY_BUCKET)
    try:
        entry = await kv.get(f"{region}.meta")
    except KeyNotFoundError:
        return None
    return json.loads(entry.value) if entry.value else None


async def load_registry(js: JetStreamContext, region: str) -> list[c.Organisation]:
    """The current version of a region's register; empty if none was imported."""
    meta = await stored_meta(js, region)
    if meta is None:
        return []
    kv = await js.key_value(c.REGISTRY_BUCKET)
    organisations: list[c.Organisation] = []
    for n in range(meta["chunks"]):
        entry = await kv.get(f"{region}.v{meta['version']}.chunk.{n:05d}")
        organisations.extend(c.Organisation.model_validate(o) for o in json.loads(entry.value))
    return organisations


# --- Files and region names ---------------------------------------------------------------------


def region_name(text: str) -> str:
    if not REGION_PATTERN.match(text):
        raise argparse.ArgumentTypeError(
            "a region name is lower-case latin letters, digits, '-' or '_' (e.g. voronezh)"
        )
    return text


def _file_lines(path: Path) -> Iterator[str]:
    """The register's lines, read as they are needed; a file that cannot be read is a
    ``RegistryError`` naming it."""
    if path.suffix.lower() in (".xlsx", ".xls"):
        raise RegistryError(
            [RowError(str(path), 1, 1, "file", "spreadsheets are not read; save the sheet as CSV")]
        )
    try:
        binary = path.open("rb")
    except OSError as exc:
        raise RegistryError([RowError(str(path), 1, 1, "file", exc.strerror or str(exc))]) from None

    def lines() -> Iterator[str]:
        with binary:
            yield from decoded_lines(binary)

    return lines()


def iter_registry_file(path: Path) -> Iterator[c.Organisation]:
    """The organisations of a register file as ``iter_registry`` yields them, read line by line."""
    return iter_registry(str(path), _file_lines(path))


def read_registry_file(path: Path) -> list[c.Organisation]:
    """Every organisation of a valid register file (all in memory: for tests and small files)."""
    return list(iter_registry_file(path))


def check_registry_file(path: Path) -> RegistrySummary:
    """Validate a register file in bounded memory (it is read line by line, and only the
    duplicate checks' numbers are kept); raise ``RegistryError``."""
    return summarise_registry(str(path), _file_lines(path))
