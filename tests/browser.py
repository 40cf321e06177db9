"""Headless Chromium for the timeline's tests: find it, load a page from disk, read its DOM and screenshot."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Optional

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
INSTALL = "apt-get install -y --no-install-recommends chromium fonts-dejavu-core"


def browse(browser: str, page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the browser headless on ``page`` (root needs --no-sandbox) with its own profile."""
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={profile}", *args, page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, cwd=profile.parent)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stderr[-2000:]}"
    return done


class Dom(HTMLParser):
    """The elements of a dumped DOM: (tag, attributes) in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "svg" and "timeline" in found.get("class", ""):
            self.svgs += 1
        found["svg"] = str(self.svgs)  # which timeline the element is in (1, 2, ...)
        self.elements.append((tag, found))

    def having(self, cls: str, svg: Optional[int] = None) -> list[dict[str, str]]:
        """The ``<g>`` elements of class ``cls`` (in timeline number ``svg``)."""
        return [a for t, a in self.elements if t == "g" and cls in a.get("class", "").split()
                and (svg is None or a["svg"] == str(svg))]


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB(A) rows of an 8-bit RGB or RGBA PNG, decoded with zlib alone."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), f"unexpected PNG format depth={depth} colour={colour}"
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = previous[i], previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, [r if bpp == 3 else bytes(b for i, b in enumerate(r) if i % 4 != 3) for r in rows]


def colours(rows: list[bytes]) -> dict[tuple[int, int, int], int]:
    """How many pixels have each colour."""
    counts: dict[tuple[int, int, int], int] = {}
    for row in rows:
        for i in range(0, len(row), 3):
            key = (row[i], row[i + 1], row[i + 2])
            counts[key] = counts.get(key, 0) + 1
    return counts


def near(counts: dict[tuple[int, int, int], int], rgb: tuple[int, int, int], tolerance: int = 4) -> int:
    return sum(n for c, n in counts.items() if all(abs(a - b) <= tolerance for a, b in zip(c, rgb)))




def find_browser() -> Optional[str]:
    """The browser's path, or None."""
    return os.environ.get("ASYNCPLAY_CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)


def require_browser() -> str:
    """The browser's path; skip without one, or fail with ``ASYNCPLAY_REQUIRE_CHROMIUM=1`` (CI)."""
    found = find_browser()
    if found:
        return found
    why = f"no headless browser to render the timeline in ({', '.join(BROWSERS)} not on PATH); install it: {INSTALL}"
    if os.environ.get("ASYNCPLAY_REQUIRE_CHROMIUM") == "1":
        pytest.fail(why)
    pytest.skip(why)


class PageDom(Dom):
    """A timeline page's DOM by section and timeline: which ``<g>`` marks and ledger rows each timeline has."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[list[int]] = []  # per section, its timelines' numbers
        self.ledger_rows: dict[int, int] = {}  # timeline number -> job ledger rows under it
        self._table = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "section" and "play" in found.get("class", ""):
            self.sections.append([])
        if tag == "svg" and "timeline" in found.get("class", "") and self.sections:
            self.sections[-1].append(self.svgs + 1)
        if tag == "table":
            self._table = found.get("class", "")
        if tag == "tr" and self._table == "ledger":
            self.ledger_rows[self.svgs] = self.ledger_rows.get(self.svgs, -1) + 1  # minus the header row
        super().handle_starttag(tag, attrs)


def page_dom(page: Path, profile: Path) -> PageDom:
    """The page's DOM as Chromium built it when there is a browser (required with ASYNCPLAY_REQUIRE_CHROMIUM=1),
    else as Python's HTML parser reads the file."""
    browser = find_browser()
    if browser is None and os.environ.get("ASYNCPLAY_REQUIRE_CHROMIUM") == "1":
        browser = require_browser()
    dom = PageDom()
    dom.feed(browse(browser, page, profile, "--dump-dom").stdout if browser else page.read_text(encoding="utf-8"))
    return dom


#: An attribute that would make the page fetch something (a self-contained page has none).
EXTERNAL = re.compile(r"""(?:src|href|xlink:href|action)\s*=\s*["']?(?!#)[^"'\s>]+|url\(\s*["']?(?!#)|@import""", re.I)
