"""The timeline page in a real browser: headless Chromium loads it from disk; its DOM has a lane per host and a
bar, ticks and marks per job, and its screenshot is a picture (not blank). No hosts needed.

Skips when Chromium is not installed, unless ``ASYNCPLAY_REQUIRE_CHROMIUM=1`` (CI): then it fails. With
``ASYNCPLAY_TIMELINE_SCREENSHOT=PATH`` the recorded killed-job play's screenshot is also written to PATH
(how ``docs/timeline-killed-job.png`` is made).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from browser import Dom, browse, colours, near, png_pixels, require_browser
from timeline_plays import EVIL, killed_play, recorded

from pytest_asyncplay.timeline import Section, render_page


@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser's path; skip (or fail, with ASYNCPLAY_REQUIRE_CHROMIUM=1) without one."""
    return require_browser()


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


def test_the_audit_page_opens_on_its_verdict_table_and_every_row_links_to_a_section(chromium: str,
                                                                                   tmp_path: Path) -> None:
    """Seven sections, the one swallowed last: the first screen is the table, that row on top, highlighted."""
    play = killed_play(hosts=("host1", "host2"), polls=3).timeline()
    sections = [Section(f"site.yml:{n} task {n} [killed]", "surfaced: the play failed at the reap",
                        [("clean baseline", play), ("probe", play)]) for n in range(1, 7)]
    sections.append(Section("site.yml:7 lost task [killed]", "swallowed: the play passed", [("probe", play)]))
    page = tmp_path / "audit.html"
    page.write_text(render_page(sections, title="reap audit"), encoding="utf-8")
    dom = Dom()
    dom.feed(browse(chromium, page, tmp_path / "profile", "--dump-dom").stdout)
    order = [t for t, _ in dom.elements]
    assert order.index("table") < order.index("section")  # the table comes before every section
    links = [a["href"] for t, a in dom.elements if t == "a" and a.get("href", "").startswith("#part-")]
    ids = [a["id"] for t, a in dom.elements if t == "section" and "play" in a.get("class", "")]
    assert links[0] == "#part-7" and sorted(links) == sorted(f"#{i}" for i in ids) and len(ids) == 7
    backs = [a for t, a in dom.elements if t == "a" and a.get("href") == "#verdicts"]
    assert len(backs) == 7 and any(a.get("id") == "verdicts" for t, a in dom.elements if t == "table")
    shot = tmp_path / "audit.png"
    browse(chromium, page, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,720")
    _, _, rows = png_pixels(shot.read_bytes())
    assert near(colours(rows), (0xfd, 0xe2, 0xe1), tolerance=2) > 500, "the swallowed row is not on the first screen"
