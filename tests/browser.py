"""A headless Chromium for the tests that look at what a person sees (the HTML report).

``make test`` installs Debian's ``chromium`` (``make browser``); run alone, a test installs it
the same way when it is missing and the machine lets it (root with apt-get). It is skipped, with
the reason, only when Chromium is missing and cannot be installed.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
# Lines of Chromium's log (--enable-logging=stderr) that a page's failing script writes.
CONSOLE_ERROR_MARKS = ("Uncaught", "ERROR:CONSOLE")


def _found() -> str | None:
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def chromium() -> str:
    """The browser's path; installs Debian's package when missing; skips when it cannot."""
    path = _found()
    if path:
        return path
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        pytest.skip("chromium is not installed and cannot be: needs root and apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in ([apt, "update", "-q"], [apt, "install", "-y", "-q", "chromium"]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode:
            pytest.skip(f"chromium could not be installed: {' '.join(argv)}: {done.stderr[-300:]}")
    return _found() or pytest.skip("apt-get installed chromium but no chromium is on PATH")


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 2400) -> str:
    """Open ``page`` headless, write its screenshot to ``png``; return Chromium's log."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                "--enable-logging=stderr",
                "--v=0",
                f"--screenshot={png}",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout + done.stderr


def console_errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if any(m in line for m in CONSOLE_ERROR_MARKS)]


def png_pixels(png: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and the rows of an 8-bit RGB/RGBA PNG (as Chromium writes them), unfiltered."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        chunks.append((data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    header = dict(chunks)[b"IHDR"]
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, (depth, colour_type, interlace)
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride, rows, previous = width * channels, [], bytes(width * channels)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + best) & 0xFF
        previous = bytes(line)
        rows.append(
            bytes(line) if channels == 3 else bytes(b for j, b in enumerate(line) if j % 4 != 3)
        )
    return width, height, rows


def colours(rows: list[bytes], step: int = 3) -> set[bytes]:
    """The distinct RGB colours of every ``step``-th pixel of every ``step``-th row."""
    return {row[x : x + 3] for row in rows[::step] for x in range(0, len(row), 3 * step)}
