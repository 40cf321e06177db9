"""The timeline page in a user's session: ``--asyncplay-timeline`` draws every play a test made (across xdist
workers), and a failing assertion helper ends its message with the play's own page, in the test's tmp_path."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from browser import EXTERNAL, page_dom

ROOT = Path(__file__).resolve().parent.parent

TESTS = '''
import pytest
from pytest_asyncplay import assert_play_ok, kill_job


@pytest.mark.asyncplay(hosts=2)
def test_killed(asyncplay):
    result = asyncplay.run("fire_and_forget_reaped.yml", faults=[kill_job("compress logs", host="host2")])
    assert_play_ok(result)  # fails: the killed job fails the play


@pytest.mark.asyncplay(hosts=2)
def test_clean_twice(asyncplay):
    asyncplay.run("fire_and_forget_reaped.yml")
    asyncplay.run("fire_and_forget_reaped.yml")


def test_without_plays():
    pass
'''


@pytest.mark.docker  # plays on real hosts in a subprocess
def test_the_timeline_page_of_a_session_and_of_a_failing_helper(pytester: pytest.Pytester) -> None:
    shutil.copy(ROOT / "example_playbooks" / "fire_and_forget_reaped.yml", pytester.path)
    pytester.makepyfile(test_plays=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--asyncplay-timeline")
    result.assert_outcomes(passed=2, failed=1)

    # the helper's message ends with the play's page, written under the failing test's tmp_path
    said = re.findall(r"^E\s+timeline: (\S+\.html)$", result.stdout.str(), flags=re.M)
    assert len(said) == 1, result.stdout.str()
    own = Path(said[0])
    assert own.is_file() and "test_killed" in str(own) and own.parent.name == "run1"
    mine = page_dom(own, pytester.path / "profile-own")
    assert {a["data-host"] for a in mine.having("lane")} == {"host1", "host2"}
    assert [a["data-host"] for a in mine.having("fault")] == ["host2"]

    # the session's page: one section per play, by test, with the test's outcome; nothing fetched
    page = pytester.path / "asyncplay-timeline.html"
    result.stdout.fnmatch_lines([f"timeline page: {page} (3 section(s), * KiB)"])
    text = page.read_text(encoding="utf-8")
    assert not EXTERNAL.search(text)
    titles = re.findall(r'<h2>([^<]*) <a class="back" href="#verdicts">', text)  # each links back to the table
    assert titles == ["test_plays.py::test_clean_twice: play 1 of 2", "test_plays.py::test_clean_twice: play 2 of 2",
                      "test_plays.py::test_killed"]
    assert text.count('class="verdict">test passed') == 2 and text.count('class="verdict">test failed') == 1
    table = text[text.index('<table id="verdicts"'):text.index("</table>", text.index('<table id="verdicts"'))]
    assert re.findall(r'href="#(part-\d)">([^<]*)</a>', table) == [  # the failed test first
        ("part-3", "test_plays.py::test_killed"), ("part-1", "test_plays.py::test_clean_twice: play 1 of 2"),
        ("part-2", "test_plays.py::test_clean_twice: play 2 of 2")]
    dom = page_dom(page, pytester.path / "profile")
    assert [len(s) for s in dom.sections] == [1, 1, 1]
    for (svg,) in dom.sections:
        assert {a["data-host"] for a in dom.having("lane", svg)} == {"host1", "host2"}
        assert len(dom.having("job", svg)) == dom.ledger_rows[svg] == 2
    assert [len(dom.having("fault", s)) for (s,) in dom.sections] == [0, 0, 1]


def test_without_the_option_no_page_is_written(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "timeline page" not in result.stdout.str()
    assert not list(pytester.path.glob("*.html"))
