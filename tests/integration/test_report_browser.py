"""The HTML report as a person sees it: a demo-sized report opened in headless Chromium draws its
pictures (a screenshot with the traffic light's colours in it) and its page logs no script error."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import colours, console_errors, png_pixels, screenshot
from report_sample import sample_findings

from gospublic.apps.report import COLOUR_PAINT, write_html_report

pytestmark = pytest.mark.integration


def _rgb(paint: str) -> bytes:
    return bytes.fromhex(paint.removeprefix("#"))


def test_console_errors_are_seen_in_chromium_log(tmp_path: Path) -> None:
    """The check below would pass on any page if Chromium did not log a failing script."""
    page = tmp_path / "broken.html"
    page.write_text("<!doctype html><p>x</p><script>notDefinedAnywhere()</script>", "utf-8")
    log = screenshot(page, tmp_path / "broken.png", width=200, height=100)
    assert any("notDefinedAnywhere" in line for line in console_errors(log)), log[-2000:]


def test_the_report_renders_its_pictures_without_errors(tmp_path: Path) -> None:
    page, png = tmp_path / "report.html", tmp_path / "report.png"
    agreement = {"LOW_FREQUENCY": {"truth": 7, "found": 7, "missing": 0, "extra": 0}}
    write_html_report(page, sample_findings(), agreement)
    log = screenshot(page, png, width=1100, height=1200)
    assert console_errors(log) == [], log[-2000:]
    assert png.stat().st_size > 20_000
    width, height, rows = png_pixels(png)
    assert (width, height) == (1100, 1200)
    seen = colours(rows)
    assert len(seen) > 50, f"a nearly blank screenshot: {len(seen)} colours"
    # The bars are drawn: each traffic-light colour is painted on the screen.
    for colour, paint in COLOUR_PAINT.items():
        assert _rgb(paint) in seen, f"no {colour} ({paint}) pixel in the screenshot"
