"""The timeline: plain data from a play's events, ledger and fault records, and the page that draws it."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from timeline_plays import EVIL, ZERO, dump_result, ev, killed_play, load_result, recorded

from pytest_asyncplay import AsyncJob, PlayResult
from pytest_asyncplay.faults import FaultRecord
from pytest_asyncplay.result import TaskFailure
from pytest_asyncplay.timeline import (
    Section,
    Timeline,
    axis_end,
    build_timeline,
    label_boxes,
    render_html,
    render_page,
)


def test_lanes_spans_and_marks_of_a_killed_job():
    result = killed_play(hosts=("host2", "host10", "host1"))
    timeline = result.timeline()
    assert timeline.hosts == ["host1", "host2", "host10"]  # natural order
    lane = timeline.lane("host2")
    assert [s.label for s in lane.tasks()] == ["compress logs", "go on", "wait for compress logs"]
    assert [s.status for s in lane.tasks()] == ["changed", "changed", "failed"]
    (job,) = lane.jobs()
    assert (job.jid, job.status, job.start) == ("j0.1", "failed", pytest.approx(0.8))
    assert job.end == pytest.approx(0.8 + 0.9)
    assert job.detail["job_file"]["rc"] == -9 and job.detail["async"] == 30
    polls = lane.marks_of("poll", "j0.1")
    assert len(polls) == 4 and polls[-1].detail["read"].startswith("finished, failed rc=-9")
    assert polls[0].label == "poll 1: not finished"
    (deadline,) = lane.marks_of("deadline")
    assert deadline.at == pytest.approx(0.8 + 30)
    (fault,) = lane.marks_of("fault")
    assert (fault.at, fault.took, fault.jid, fault.label) == (0.85, 0.03, "j0.1", "kill_job")
    (end,) = lane.marks_of("end")
    assert end.at == result.duration and end.label == "end rc=2" and end.detail["recap"]["failures"] == 1
    assert timeline.clock == "recorded"


def test_polls_are_the_async_status_events_with_a_jid():
    result = killed_play(hosts=("host1",), polls=5)
    cleanup = ev("runner_on_ok", 9.0, "host1", "clean", "u4", action="ansible.builtin.async_status",
                 res={"ansible_job_id": "j0.1", "erased": "/h/j0.1", "started": 0})
    result.events.insert(-1, cleanup)
    polls = [e for e in result.events if e["event_data"].get("task_action", "").endswith("async_status")
             and e["event"] != "runner_on_start"]
    marks = result.timeline().lane("host1").marks_of("poll")
    assert len(marks) == len(polls) == 7
    assert marks[-1].detail["read"] == "cleanup: job file erased"


def test_keep_alive_polls_and_an_open_vanished_job():
    events = [ev("runner_on_start", 0.1, "h", "download", "k1"),
              ev("runner_on_async_poll", 0.6, "h", "download", "k1", res={"ansible_job_id": "9.1", "started": 1,
                                                                          "finished": 0}),
              ev("runner_on_async_poll", 1.6, "h", "download", "k1", res={"ansible_job_id": "9.1", "started": 1,
                                                                          "finished": 0})]
    job = AsyncJob(task="download", host="h", jid="9.1", async_timeout=2, poll=1, item=None, reaped=True,
                   outcome="vanished", launched_at=ZERO + 0.6)
    result = PlayResult(playbook=Path("/r/k.yml"), rc=2, stats={}, events=events, stdout="", duration=3.0,
                        faults=[], jobs=[job], started_at=ZERO)
    lane = result.timeline().lane("h")
    (span,) = lane.jobs()
    assert span.end is None and span.status == "vanished"
    (task,) = lane.tasks()
    assert task.end is None and task.status == "running"
    assert len(lane.marks_of("poll")) == 2 and lane.marks_of("deadline")[0].at == pytest.approx(2.6)
    assert 'class="job o-vanished open"' in render_html(result.timeline())


def test_a_keep_alive_job_the_controller_gave_up_on_ends_with_its_task():
    poll = {"ansible_job_id": "9.1", "started": 1, "finished": 0}
    events = [ev("runner_on_start", 0.1, "h", "download", "k1"),
              ev("runner_on_async_poll", 0.6, "h", "download", "k1", res=poll),
              ev("runner_on_failed", 2.7, "h", "download", "k1", res={"msg": "async task did not complete within the "
                                                                      "requested time - 2s", "async_result": poll})]
    job = AsyncJob(task="download", host="h", jid="9.1", async_timeout=2, poll=1, item=None, reaped=True,
                   outcome="timeout", task_uuid="k1", launched_at=None)
    result = PlayResult(playbook=Path("/r/k.yml"), rc=2, stats={}, events=events, stdout="", duration=3.0,
                        faults=[], jobs=[job], started_at=ZERO)
    (span,) = result.timeline().lane("h").jobs()
    assert (span.start, span.end, span.status) == (pytest.approx(0.1), pytest.approx(2.7), "timeout")
    assert "launch time not recorded" in span.detail["note"]


def test_without_a_recorded_start_the_first_event_is_zero():
    result = killed_play()
    result.started_at = None
    timeline = result.timeline()
    assert timeline.clock == "first event"
    assert timeline.lane("host1").tasks()[0].start == 0.0  # the first event was at +0.5s
    assert timeline.lane("host1").jobs()[0].start == pytest.approx(0.3)
    assert "times from the first event" in render_html(timeline)


def test_to_dict_is_json():
    timeline = build_timeline(killed_play(hosts=("host1", "host2")))
    data = json.loads(json.dumps(timeline.to_dict()))
    assert [lane["host"] for lane in data["lanes"]] == ["host1", "host2"]
    assert data["lanes"][0]["spans"][3]["kind"] == "job" and data["faults"][0]["at"] == 0.85


def test_everything_is_escaped_and_nothing_is_fetched():
    result = killed_play(task=EVIL)
    result.faults[0].detail = "<img src=http://x/y.png>"
    page = render_html(result.timeline(), title="<t>")
    assert "<script" not in page.lower() and "<img" not in page.lower() and "</title><script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&quot;quoted&quot;" in page
    assert "&amp;amp;" in page  # the task name's own "&amp;" stays text
    tags = Tags()
    tags.feed(page)
    assert "script" not in tags.names and "img" not in tags.names and "link" not in tags.names
    assert not [(n, k, v) for n, k, v in tags.attrs if k in ("src", "href", "xlink:href", "srcset", "action")
                and not (k == "href" and str(v).startswith("#"))]  # a link within the page fetches nothing
    assert not [v for n, k, v in tags.attrs if v and ("http:" in v or "https:" in v or "url(" in v)]
    style = page[page.index("<style>"):page.index("</style>")]
    assert "@import" not in style and "url(" not in style and "http" not in style


class Tags(HTMLParser):
    """Every tag name and attribute of a page."""

    def __init__(self):
        super().__init__()
        self.names, self.attrs = set(), []

    def handle_starttag(self, tag, attrs):
        self.names.add(tag)
        self.attrs += [(tag, k, v) for k, v in attrs]


def _assert_no_overlap(timeline, width=1200.0):
    boxes = label_boxes(timeline, width)
    clashes = [(a.text, b.text) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.overlaps(b)]
    assert not clashes, clashes[:5]
    return boxes


def test_forty_hosts_grow_the_page_and_no_labels_overlap():
    result = killed_play(hosts=[f"host{n}" for n in range(1, 41)])
    timeline = result.timeline()
    boxes = _assert_no_overlap(timeline)
    assert {b.text for b in boxes} >= {f"host{n}" for n in range(1, 41)}
    page = render_html(timeline)
    assert page.count('class="lane"') == 40 and page.count('class="job ') == 40
    height = int(re.search(r'<svg class="timeline" viewBox="0 0 \d+ (\d+)"', page).group(1))
    assert height > 40 * 40


def test_two_hundred_polls_are_ticks_without_labels():
    result = killed_play(polls=200)
    timeline = result.timeline()
    boxes = _assert_no_overlap(timeline)
    page = render_html(timeline)
    assert page.count('<g class="poll') == 201
    assert not any(b.text.startswith("poll") for b in boxes)


def test_crowded_jobs_stack_into_rows_and_long_names_are_cut():
    long = "a task with a very long name " * 6
    jobs = [AsyncJob(task=f"{long}{i}" if i % 2 else f"j{i}", host="host1", jid=f"{i}.1", async_timeout=5, poll=0,
                     item=None, outcome=("ok", "failed", "timeout", "vanished", "running")[i % 5],
                     runtime=0.05 if i % 5 < 3 else None, launched_at=ZERO + i * 0.01) for i in range(30)]
    result = PlayResult(playbook=Path("/r/x.yml"), rc=0, stats={}, events=[], stdout="", duration=4.0, faults=[],
                        jobs=jobs, started_at=ZERO)
    timeline = result.timeline()
    boxes = _assert_no_overlap(timeline)
    _assert_no_overlap(timeline, width=720.0)
    assert any(b.text.endswith("\u2026") for b in boxes)
    assert max(b.x + b.w for b in boxes) <= 1200
    page = render_html(timeline)
    assert page.count('class="job ') == 30 and long.strip() in page  # the full name lives in the titles


def test_many_short_tasks_keep_labels_inside_their_bars():
    events = []
    for i in range(120):
        events += [ev("runner_on_start", i * 0.05, "host1", f"task number {i}", f"t{i}"),
                   ev("runner_on_ok", i * 0.05 + 0.04, "host1", f"task number {i}", f"t{i}", res={})]
    events.append(ev("runner_on_ok", 100.0, "host1", "a long one", "z", res={}))
    result = PlayResult(playbook=Path("/r/x.yml"), rc=0, stats={}, events=events, stdout="", duration=100.0,
                        faults=[], jobs=[], started_at=ZERO)
    _assert_no_overlap(result.timeline())


def test_a_page_of_sections_side_by_side():
    baseline, probe = killed_play(kill=False, polls=1).timeline(), killed_play().timeline()
    page = render_page([Section("site.yml :: compress logs [killed]", "surfaced: the play failed at the reap",
                                [("clean baseline", baseline), ("kill_job(compress logs)", probe)]),
                        Section("other.yml", "", [("", probe)])], title="reap audit")
    assert page.count('<section class="play" id="part-') == 2 and page.count('<svg class="timeline"') == 3
    assert "clean baseline" in page and "surfaced: the play failed at the reap" in page
    assert 'viewBox="0 0 720 ' in page and 'viewBox="0 0 1200 ' in page
    pair = page[page.index("<section"):page.index("</section>")]
    ticks = re.findall(r'<text class="tick" x="([\d.]+)"[^>]*>([^<]*)</text>', pair)
    assert ticks[:len(ticks) // 2] == ticks[len(ticks) // 2:], "the two panes do not share one time scale"
    assert axis_end(probe) > axis_end(baseline)
    with pytest.raises(ValueError, match="give 0, 1 or 2"):
        render_page([Section("three", "", [("a", probe)] * 3)])


def test_save_html_writes_the_page(tmp_path):
    result = killed_play(hosts=("host1", "host2"))
    path = result.save_html(tmp_path / "out" / "play.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count('class="fault"') == 2
    assert "SIGKILL to [42, 43]" in page and "recap" in page and "job ledger" in page


def test_host_faults_and_faults_that_did_not_apply_are_marks_too():
    result = killed_play(hosts=("host1", "host2"))
    result.faults += [FaultRecord("drop_connection", True, 1.5, "host2", None, "reset 2 connection(s)", took=0.002),
                      FaultRecord("kill_job", False, 1.6, "host1", "j0.1", "the job had already finished")]
    timeline = result.timeline()
    (reset,) = [m for m in timeline.lane("host2").marks_of("fault") if m.jid is None]
    assert (reset.at, reset.label, reset.took) == (1.5, "drop_connection", 0.002)
    missed = timeline.lane("host1").marks_of("fault")[-1]
    assert missed.label == "kill_job (not applied)" and missed.detail["applied"] is False
    page = render_html(timeline)
    assert page.count('<g class="fault missed"') == 1 and page.count('<g class="fault"') == 3
    assert "reset 2 connection(s)" in page and "the job had already finished" in page


def test_failures_and_unapplied_faults_are_listed():
    result = killed_play()
    result.faults.append(FaultRecord("vanish_job", False, None, None, None, "its moment never came"))
    result.failures.append(TaskFailure("x", "host1", "boom", at=1.0))
    timeline = result.timeline()
    assert len(timeline.faults) == 2 and sum(len(lane.marks_of("fault")) for lane in timeline.lanes) == 1
    page = render_html(timeline)
    assert "its moment never came" in page and "failed tasks" in page


def test_a_dumped_play_loads_back_to_the_same_timeline():
    result = killed_play(hosts=("host1", "host2"))
    again = load_result(json.loads(json.dumps(dump_result(result))))
    assert again.timeline().to_dict() == result.timeline().to_dict()


def test_a_recorded_real_play_rebuilds():
    result = recorded()
    timeline: Timeline = result.timeline()
    (job,) = [s for lane in timeline.lanes for s in lane.jobs()]
    lane = timeline.lane(result.jobs[0].host)
    assert job.status == "failed" and job.jid == result.jobs[0].jid
    record = next(r for r in result.faults if r.applied)
    (fault,) = lane.marks_of("fault")
    assert fault.at == record.at and job.start <= fault.at <= job.end
    assert lane.marks_of("deadline")[0].at == pytest.approx(job.start + result.jobs[0].async_timeout)
    polls = [e for e in result.events if e["event"] in ("runner_retry", "runner_on_ok", "runner_on_failed")
             and e["event_data"].get("task_action", "").endswith("async_status")]
    assert len(lane.marks_of("poll")) == len(polls) > 0
    assert lane.marks_of("poll")[-1].detail["read"] == "finished, failed: ValueError: No start of json char found"
    (reap,) = [t for t in lane.tasks() if t.label == "wait for compress logs"]
    assert reap.status == "failed" and reap.detail["msg"] == "ValueError: No start of json char found"
    _assert_no_overlap(timeline)


def test_a_page_of_verdicts_opens_on_its_table_swallowed_first_each_row_linking_to_its_part():
    play = killed_play().timeline()
    sections = [Section("a.yml:1 ok task [killed]", "surfaced: the play failed at the reap", [("probe", play)]),
                Section("b.yml:2 lost task [killed]", "swallowed: the play passed\nmore", [("probe", play)]),
                Section("c.yml:3 odd task [killed]", "not-proven: the clean host failed", [("probe", play)])]
    page = render_page(sections, title="reap audit")
    table = page[page.index('<table id="verdicts"'):page.index("</table>", page.index('<table id="verdicts"'))]
    assert page.index('<table id="verdicts"') < page.index('<section class="play"')  # the first thing after h1
    links = re.findall(r'<a href="#(part-\d+)">([^<]*)</a>', table)
    assert [title for _, title in links] == ["b.yml:2 lost task [killed]", "c.yml:3 odd task [killed]",
                                             "a.yml:1 ok task [killed]"]
    ids = set(re.findall(r'<section class="play" id="(part-\d+)">', page))
    assert {target for target, _ in links} == ids and len(ids) == 3
    for target, title in links:  # each row names the section it links to
        assert re.search(rf'id="{target}"><h2>{re.escape(title)} ', page.replace("&quot;", '"'))
    assert page.count('href="#verdicts"') == 3 and "more" not in table  # the verdict's first line only
    assert '<table id="verdicts"' not in render_html(play)  # one play's drawing has no verdicts to list
