"""The timeline page in a real browser: headless Chromium loads it from disk; its DOM has a lane per host and a
bar, ticks and marks per job, and its screenshot is a picture (not blank). No hosts needed.

Skips when Chromium is not installed, unless ``ASYNCPLAY_REQUIRE_CHROMIUM=1`` (CI): then it fails. With
``ASYNCPLAY_TIMELINE_SCREENSHOT=PATH`` the recorded killed-job play's screenshot is also written to PATH
(how ``docs/timeline-killed-job.png`` is made).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Optional

import pytest
from timeline_plays import EVIL, killed_play, recorded

from pytest_asyncplay.timeline import Section, render_page

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
INSTALL = "apt-get install -y --no-install-recommends chromium fonts-dejavu-core"


@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser's path; skip (or fail, with ASYNCPLAY_REQUIRE_CHROMIUM=1) without one."""
    found = os.environ.get("ASYNCPLAY_CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if found:
        return found
    why = f"no headless browser to render the timeline in ({', '.join(BROWSERS)} not on PATH); install it: {INSTALL}"
    if os.environ.get("ASYNCPLAY_REQUIRE_CHROMIUM") == "1":
        pytest.fail(why)
    pytest.skip(why)


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


def test_the_page_in_chromium(chromium: str, tmp_path: Path) -> None:
    hosts = ("host1", "host2", "host3")
    probe = killed_play(hosts=hosts, polls=4, task=EVIL).timeline()
    baseline = killed_play(hosts=hosts[:1], polls=2, kill=False).timeline()
    page = tmp_path / "page.html"
    page.write_text(render_page([Section("probe", "surfaced", [("kill_job", probe)]),
                                 Section("pair", "baseline and probe", [("clean baseline", baseline),
                                                                        ("kill_job", probe)])]), encoding="utf-8")
    dom = Dom()
    dom.feed(browse(chromium, page, tmp_path / "profile", "--dump-dom").stdout)
    tags = {t for t, _ in dom.elements}
    assert "script" not in tags and "img" not in tags and "svg" in tags
    assert len([a for t, a in dom.elements if t == "svg" and "timeline" in a.get("class", "")]) == 3
    lanes = dom.having("lane")
    assert [a["data-host"] for a in lanes] == [*hosts, hosts[0], *hosts]
    jobs = dom.having("job")
    assert len(jobs) == 7 and sorted(a["data-outcome"] for a in jobs) == ["failed"] * 6 + ["ok"]
    for svg in (1, 3):  # the probe alone, then beside the baseline
        for lane in probe.lanes:  # per host and job: its bar, every poll, the fault, the deadline
            (span,) = lane.jobs()
            for cls, count in (("job", 1), ("poll", len(lane.marks_of("poll"))), ("fault", 1), ("deadline", 1)):
                found = [a for a in dom.having(cls, svg) if a["data-host"] == lane.host and a["data-jid"] == span.jid]
                assert len(found) == count, (svg, cls, lane.host, found)
    assert [a["data-outcome"] for a in dom.having("job", 2)] == ["ok"] and not dom.having("fault", 2)
    assert len(dom.having("poll")) == 2 * 3 * 5 + 3
    assert len(dom.having("end")) == 3 + 1 + 3

    shot = tmp_path / "shot.png"
    browse(chromium, page, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,700")
    width, height, rows = png_pixels(shot.read_bytes())
    assert (width, height) == (1280, 700)
    counts = colours(rows)
    assert len(counts) > 50, f"a blank-looking screenshot: {len(counts)} colours"
    white = counts.get((255, 255, 255), 0)
    assert white < 0.97 * width * height, "the screenshot is almost all white"
    assert near(counts, (0xd6, 0x2f, 0x2f)) > 300, "no red job bar (failed) was drawn"
    assert near(counts, (0xf5, 0xb5, 0xb5)) > 300, "no failed task bar was drawn"


def test_the_recorded_killed_job_play_in_chromium(chromium: str, tmp_path: Path) -> None:
    result = recorded()
    page = result.save_html(tmp_path / "killed.html")
    dom = Dom()
    dom.feed(browse(chromium, page, tmp_path / "profile", "--dump-dom").stdout)
    (job,) = result.jobs
    assert [a["data-host"] for a in dom.having("lane")] == [job.host]
    assert [a["data-outcome"] for a in dom.having("job") if a["data-jid"] == job.jid] == ["failed"]
    assert len([a for a in dom.having("fault") if a["data-jid"] == job.jid]) == 1
    shot = tmp_path / "killed.png"
    browse(chromium, page, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,640")
    _, _, rows = png_pixels(shot.read_bytes())
    assert near(colours(rows), (0xd6, 0x2f, 0x2f)) > 100, "the killed job's red bar is not on the screenshot"
    target = os.environ.get("ASYNCPLAY_TIMELINE_SCREENSHOT")
    if target:
        shutil.copyfile(shot, target)
