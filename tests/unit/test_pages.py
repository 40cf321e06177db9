"""The session's timeline page from its parts, and the page a failing assertion helper points at (no hosts)."""

from __future__ import annotations

import json
import re

import pytest
from timeline_plays import killed_play, recorded

from pytest_asyncplay import assert_play_ok
from pytest_asyncplay.pages import PageParts, Part, audit_part, parts_of_test, write_page
from pytest_asyncplay.timeline import Section, Timeline, render_page


def test_a_timeline_travels_as_json_and_comes_back_the_same():
    for timeline in (killed_play(hosts=("host1", "host2"), polls=4).timeline(), recorded().timeline()):
        again = Timeline.from_dict(json.loads(json.dumps(timeline.to_dict())))
        assert again == timeline


def test_an_audit_part_shows_the_baseline_beside_the_deciding_run():
    baseline, runs = killed_play(kill=False), [killed_play(kill=False), killed_play()]
    part = audit_part(3, "site.yml::compress logs[killed]", "site.yml:6 compress logs [killed]",
                      "swallowed: the play still finished rc=0", baseline, runs, "killed")
    (left, base), (right, probe) = part.section.panes
    assert left.startswith("clean baseline") and base == baseline.timeline()
    assert right.startswith("probe: killed fault, run 2 of 2") and probe == runs[-1].timeline()
    assert Part.from_dict(json.loads(json.dumps(part.to_dict()))) == part


def test_an_item_that_never_played_keeps_its_section():
    part = audit_part(0, "bad.yml::x[killed]", "bad.yml:3 x [killed]", "error: the playbook cannot be read",
                      None, [], "killed")
    assert not part.section.panes
    page = render_page([part.section])
    assert "<h2>bad.yml:3 x [killed] <a" in page and "never got to play" in page
    assert '<svg class="timeline"' not in page


def test_parts_come_back_in_item_order_and_a_broken_one_says_so(tmp_path):
    parts = PageParts(tmp_path / "parts")
    play = killed_play()
    for order, nodeid in ((2, "b"), (0, "z"), (1, "a")):
        parts.add(Part(order, nodeid, Section(nodeid, "surfaced", [("probe", play.timeline())])))
    (tmp_path / "parts" / "part-broken.json").write_text("{not json")
    got = parts.parts()
    assert [p.nodeid for p in got] == ["z", "a", "b", "part-broken.json"]
    assert "lost" in got[-1].section.verdict and not got[-1].section.panes
    assert not list((tmp_path / "parts").glob(".part-*")), "a temporary part was left behind"
    page = write_page(tmp_path / "out" / "page.html", got).read_text(encoding="utf-8")
    assert page.count('<section class="play" id="part-') == 4 and page.count('<svg class="timeline"') == 3


def test_a_tests_plays_become_one_section_each():
    first, second = killed_play(kill=False), killed_play()
    parts = parts_of_test(5, "t.py::test_x", "failed", [first, second])
    assert [p.section.title for p in parts] == ["t.py::test_x: play 1 of 2", "t.py::test_x: play 2 of 2"]
    assert [p.nodeid for p in parts] == ["t.py::test_x#0000", "t.py::test_x#0001"]
    assert all(p.section.verdict == "test failed" and len(p.section.panes) == 1 for p in parts)
    (only,) = parts_of_test(5, "t.py::test_y", "passed", [first])
    assert only.section.title == "t.py::test_y"


def test_a_failing_helper_ends_with_the_path_of_its_page(tmp_path):
    result = killed_play()
    result.run_dir = tmp_path / "run1"
    with pytest.raises(AssertionError) as info:
        assert_play_ok(result)
    last = str(info.value).splitlines()[-1]
    assert last == f"timeline: {tmp_path / 'run1' / 'timeline.html'}"
    page = (tmp_path / "run1" / "timeline.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and re.search(r'<g class="fault', page)


def test_a_helper_without_a_run_folder_or_with_an_unwritable_one_still_fails_plainly(tmp_path):
    result = killed_play()
    with pytest.raises(AssertionError) as info:
        assert_play_ok(result)
    assert "timeline:" not in str(info.value)
    (tmp_path / "file").write_text("")
    result.run_dir = tmp_path / "file" / "below-a-file"
    with pytest.raises(AssertionError, match=r"the play failed \(rc=2\)") as info:
        assert_play_ok(result)
    assert str(info.value).splitlines()[-1].startswith("timeline: not written (")
