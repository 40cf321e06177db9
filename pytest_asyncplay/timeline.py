"""The timeline of one play: per host, what ran when, as plain data, and a self-contained HTML page drawing it.

``build_timeline(result)`` turns a ``PlayResult`` (any ``PlayRecord``: its events, job ledger and fault records) into a
``Timeline``: one ``HostLane`` per host holding ``Span``s (each task, each async job from launch to end)
and ``Mark``s (each ``async_status`` poll, each fault, each job's ``async:`` deadline, the play's end),
all in seconds from the play's start on the faults clock (``FaultRecord.at``, ``TaskFailure.at``).

``render_html(timeline)`` draws it as one page: inline SVG and CSS, no script, nothing fetched. A lane
per host, job bars coloured by outcome, poll ticks, fault marks, deadlines as lines, hover titles, then
the recap, the ledger and the faults as tables. ``render_page(sections)`` puts several plays on one
page, each section holding one or two timelines side by side (the audit's baseline beside its probe).

Layout never lets two text labels overlap: every label is measured (monospace, its ``textLength`` fixed
to the measure), bars that would collide with a label are stacked on a new row, labels that do not fit
are cut with their full text in the ``<title>``; poll ticks, fault marks and deadlines carry no text.
``label_boxes(timeline)`` returns the measured boxes, for tests.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional, Protocol

from .faults import FaultRecord
from .ledger import AsyncJob, event_res, event_time
from .versions import ASYNC_STATUS_ACTIONS, flag


class FailureRecord(Protocol):
    """What a timeline reads of a failure (``result.TaskFailure`` is one)."""

    @property
    def task(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def unreachable(self) -> bool: ...
    @property
    def task_path(self) -> Optional[str]: ...
    @property
    def jid(self) -> Optional[str]: ...
    @property
    def at(self) -> Optional[float]: ...


class PlayRecord(Protocol):
    """What a timeline reads of a play (``result.PlayResult`` is one): a protocol, so that the result's
    ``timeline()`` can draw itself without this module importing it back."""

    @property
    def playbook(self) -> Any: ...
    @property
    def rc(self) -> int: ...
    @property
    def stats(self) -> Mapping[str, Mapping[str, int]]: ...
    @property
    def events(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def duration(self) -> float: ...
    @property
    def faults(self) -> Sequence[FaultRecord]: ...
    @property
    def jobs(self) -> Sequence[AsyncJob]: ...
    @property
    def timed_out(self) -> bool: ...
    @property
    def ansible_version(self) -> str: ...
    @property
    def failures(self) -> Sequence[FailureRecord]: ...

#: The job-file fields shown in hover titles and the ledger table, in this order.
JOB_FILE_KEYS = ("rc", "failed", "msg", "started", "finished", "start", "end", "delta", "cmd", "stderr", "stdout",
                 "child_pid")
TASK_ENDS = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_skipped": "skipped",
             "runner_on_unreachable": "unreachable"}
FAILED_EVENTS = frozenset({"runner_on_failed", "runner_item_on_failed", "runner_on_async_failed"})
POLL_EVENTS = frozenset({"runner_retry", "runner_on_ok", "runner_on_failed", "runner_item_on_ok",
                         "runner_item_on_failed"})


@dataclass
class Span:
    """Something that lasted on one host: a task (``kind="task"``) or an async job (``kind="job"``).

    ``end`` is None when it had not ended by the play's end (a job still running or vanished, a task the
    play was stopped in). ``status`` is a task's ``ok``/``changed``/``failed``/``ignored``/``skipped``/
    ``unreachable``/``running``, or a job's outcome (``ok``, ``failed``, ``timeout``, ``vanished``, ...).
    """

    kind: str
    label: str
    start: float
    end: Optional[float]
    status: str
    jid: Optional[str] = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Mark:
    """A moment on one host: an ``async_status`` poll, a fault, a job's ``async:`` deadline or the play's end."""

    kind: str
    at: float
    label: str
    jid: Optional[str] = None
    took: Optional[float] = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class HostLane:
    """Everything that happened on one host, and its recap."""

    host: str
    spans: list[Span] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    recap: dict[str, int] = field(default_factory=dict)

    def jobs(self) -> list[Span]:
        """The job spans, in launch order."""
        return [s for s in self.spans if s.kind == "job"]

    def tasks(self) -> list[Span]:
        """The task spans, in start order."""
        return [s for s in self.spans if s.kind == "task"]

    def marks_of(self, kind: str, jid: Optional[str] = None) -> list[Mark]:
        """The marks of ``kind`` (of job ``jid`` if given)."""
        return [m for m in self.marks if m.kind == kind and (jid is None or m.jid == jid)]


@dataclass
class Timeline:
    """One play, per host, in seconds from its start on the faults clock (``clock`` says how the events were
    put on it: ``recorded`` from ``PlayResult.started_at``, ``first event`` for results that lack it)."""

    playbook: str
    rc: int
    duration: float
    timed_out: bool = False
    ansible_version: str = ""
    clock: str = "recorded"
    lanes: list[HostLane] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)

    def lane(self, host: str) -> HostLane:
        """The lane of ``host`` (``KeyError`` if the play never touched it)."""
        for lane in self.lanes:
            if lane.host == host:
                return lane
        raise KeyError(f"no lane for host {host!r}; lanes: {', '.join(x.host for x in self.lanes)}")

    @property
    def hosts(self) -> list[str]:
        """The hosts, in lane order."""
        return [lane.host for lane in self.lanes]

    @property
    def end(self) -> float:
        """The last moment on the timeline: the play's end, or a later span end or mark."""
        moments = [self.duration]
        for lane in self.lanes:
            moments += [s.end for s in lane.spans if s.end is not None]
            moments += [m.at for m in lane.marks if m.kind != "deadline"]
        return max(moments)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return _plain(asdict(self))  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Timeline:
        """The timeline ``to_dict`` gave (how a page's parts travel from xdist workers to the controller)."""
        fields = {k: v for k, v in data.items() if k != "lanes"}
        lanes = [HostLane(host=lane["host"], recap=dict(lane.get("recap", {})),
                          spans=[Span(**span) for span in lane.get("spans", [])],
                          marks=[Mark(**mark) for mark in lane.get("marks", [])])
                 for lane in data.get("lanes", [])]
        return cls(lanes=lanes, **fields)


# ---- building ---------------------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """``value`` as JSON data (keys as strings, tuples as lists, anything else as its ``str``)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return str(value)


def _brief(value: Any, limit: int = 200) -> Any:
    """A job-file value cut for display: long strings to their last line (``...`` before it)."""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    if isinstance(value, str) and len(value) > limit:
        lines = [line for line in value.strip().splitlines() if line.strip()]
        tail = lines[-1] if lines else value
        return "... " + tail[-limit:]
    return _plain(value)


def job_file_fields(record: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """The key fields of a job file (``JOB_FILE_KEYS`` that are present), long values cut."""
    if not record:
        return {}
    return {k: _brief(record[k]) for k in JOB_FILE_KEYS if k in record and record[k] not in (None, "")}


def play_clock(result: PlayRecord) -> tuple[Callable[[Optional[float]], Optional[float]], str]:
    """A function from a POSIX time (an event's ``created``, ``AsyncJob.launched_at``) to seconds from the
    play's start on the faults clock, and how its zero was found: ``recorded`` (``PlayResult.started_at``,
    taken when the faults clock started) or ``first event`` (an older or hand-made result: the first event
    is taken as the start, a little late, so marks may sit up to a second left of the faults')."""
    zero: Optional[float] = getattr(result, "started_at", None)
    how = "recorded"
    if zero is None:
        how = "first event"
        times = [t for t in (event_time(e) for e in result.events) if t is not None]
        times += [j.launched_at for j in result.jobs if j.launched_at is not None]
        zero = min(times) if times else 0.0
    start = zero

    def seconds(posix: Optional[float]) -> Optional[float]:
        return None if posix is None else posix - start

    return seconds, how


def _host_key(host: str) -> list[Any]:
    """Natural order: host2 before host10."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", host)]


def _last_line(text: str) -> str:
    """A traceback's last line (the error), any other text as it is."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if text.startswith("Traceback") and lines else text


def _poll_read(kind: str, res: Mapping[str, Any]) -> str:
    """What one ``async_status`` answer read, in a few words (the event's kind says whether it failed: Ansible
    leaves ``failed`` out of a failed task's result)."""
    if "erased" in res:
        return "cleanup: job file erased"
    message = _last_line(str(res.get("msg", "")))
    if message.startswith("could not find job"):
        return "could not find job"
    if flag(res, "finished"):
        failed = kind in FAILED_EVENTS or flag(res, "failed") or res.get("rc") not in (None, 0)
        rc = f" rc={res['rc']}" if "rc" in res else ""
        why = f": {message[:80]}" if message and failed else ""
        return ("finished, failed" if failed else "finished, ok") + rc + why
    return "not finished" if flag(res, "started") or "finished" in res else (message[:80] or "no answer")


def _poll_mark(kind: str, data: Mapping[str, Any], res: Mapping[str, Any], jid: str, at: float) -> Mark:
    attempts = res.get("attempts")
    read = _poll_read(kind, res)
    detail = {"task": str(data.get("task", "")), "event": kind, "read": read,
              **{k: _brief(res[k]) for k in ("attempts", "finished", "failed", "rc") if k in res}}
    if res.get("msg"):
        detail["msg"] = _brief(_last_line(str(res["msg"])))
    label = f"poll{f' {attempts}' if attempts is not None else ''}: {read}"
    return Mark("poll", at, label, jid=jid, detail=_plain(detail))


def _task_status(kind: str, data: Mapping[str, Any], res: Mapping[str, Any]) -> str:
    status = TASK_ENDS[kind]
    if status == "failed" and data.get("ignore_errors"):
        return "ignored"
    if status == "ok" and res.get("changed"):
        return "changed"
    return status


def build_timeline(result: PlayRecord) -> Timeline:
    """The ``Timeline`` of a play, from its events, job ledger and fault records."""
    clock, how = play_clock(result)
    lanes: dict[str, HostLane] = {}

    def lane(host: str) -> HostLane:
        if host not in lanes:
            lanes[host] = HostLane(host, recap=dict(result.stats.get(host, {})))
        return lanes[host]

    for host in result.stats:
        lane(host)
    open_tasks: dict[tuple[str, str], Span] = {}
    task_spans: dict[tuple[str, str], Span] = {}  # the last run of each task on each host
    polls: list[tuple[str, Mark]] = []
    for event in result.events:
        kind = str(event.get("event", ""))
        data = event.get("event_data") or {}
        if not data.get("host") or not kind.startswith("runner_"):
            continue
        host = str(data["host"])
        at = clock(event_time(event))
        if at is None:
            continue
        res = event_res(data)
        key = (str(data.get("task_uuid", "")), host)
        if kind == "runner_on_start":
            stale = open_tasks.pop(key, None)
            if stale is not None:  # the same task started again before it ended: close the first as unknown
                stale.end, stale.status = at, "unknown"
            span = Span("task", str(data.get("task", "")), at, None, "running",
                        detail=_plain({"task": data.get("task", ""), "action": data.get("task_action", ""),
                                       "task_path": data.get("task_path")}))
            open_tasks[key] = span
            task_spans[key] = span
            lane(host).spans.append(span)
        elif kind in TASK_ENDS:
            span_or_none = open_tasks.pop(key, None)
            if span_or_none is None:  # an end without a start (a hand-made stream): a span of no length
                span_or_none = Span("task", str(data.get("task", "")), at, None, "running",
                                    detail=_plain({"task": data.get("task", ""), "action": data.get("task_action", ""),
                                                   "task_path": data.get("task_path")}))
                lane(host).spans.append(span_or_none)
            span_or_none.end = max(at, span_or_none.start)
            span_or_none.status = _task_status(kind, data, res)
            message = res.get("msg") or res.get("stderr")
            if message and span_or_none.status in ("failed", "ignored", "unreachable"):
                span_or_none.detail["msg"] = _brief(_last_line(str(message)))
        jid = res.get("ansible_job_id")
        is_poll = kind == "runner_on_async_poll" or (
            data.get("task_action") in ASYNC_STATUS_ACTIONS and kind in POLL_EVENTS)
        if jid and is_poll:
            polls.append((host, _poll_mark(kind, data, res, str(jid), at)))

    jobs_by_key = {(j.host, j.jid): j for j in result.jobs}
    polls_of: dict[tuple[str, Optional[str]], list[Mark]] = {}
    for host, mark in polls:
        polls_of.setdefault((host, mark.jid), []).append(mark)
    for job in result.jobs:
        task_span = task_spans.get((job.task_uuid or "", job.host))
        launched = clock(job.launched_at)
        start = launched if launched is not None else task_span.start if task_span else 0.0
        end: Optional[float] = None
        finished = job.outcome in ("ok", "failed", "timeout")
        seen = [m.at for m in polls_of.get((job.host, job.jid), []) if str(m.detail["read"]).startswith("finished")]
        if finished and job.runtime is not None:
            end = start + job.runtime
        elif finished and seen:  # the controller told the end: the first poll that read it finished
            end = min(seen)
        elif finished and job.poll and task_span is not None and task_span.end is not None:
            end = task_span.end  # a keep-alive job the controller gave up on: its task's end
        item = f" #{job.item}" if job.item is not None else ""
        detail = {"task": job.task, "host": job.host, "jid": job.jid, "item": job.item, "async": job.async_timeout,
                  "poll": job.poll, "reaped": job.reaped, "outcome": job.outcome, "runtime": job.runtime,
                  "task_path": job.task_path, "results_file": job.results_file,
                  "job_file": job_file_fields(job.result)}
        if job.unknown_reason:
            detail["unknown_reason"] = job.unknown_reason
        if launched is None:
            detail["note"] = "launch time not recorded: drawn from its task's start"
        host_lane = lane(job.host)
        host_lane.spans.append(Span("job", f"{job.task}{item}", start, end, job.outcome, jid=job.jid,
                                    detail=_plain(detail)))
        if job.async_timeout:
            host_lane.marks.append(Mark("deadline", start + job.async_timeout, f"async: {job.async_timeout} ends",
                                        jid=job.jid, detail={"task": job.task, "async": job.async_timeout}))
    for host, mark in polls:
        if (host, mark.jid) not in jobs_by_key:
            mark.detail["note"] = "no job of the ledger has this jid on this host"
        lane(host).marks.append(mark)
    for record in result.faults:  # a fault whose moment came is a mark, applied or not (its detail says why)
        if record.host and record.at is not None:
            lane(record.host).marks.append(Mark(
                "fault", record.at, record.fault + ("" if record.applied else " (not applied)"), jid=record.jid,
                took=record.took, detail=_plain({"fault": record.fault, "applied": record.applied,
                                                 "detail": record.detail, "item": record.item, "took": record.took,
                                                 "jid": record.jid})))
    for host_lane in lanes.values():
        host_lane.marks.append(Mark("end", result.duration, f"end rc={result.rc}",
                                    detail=_plain({"rc": result.rc, "recap": host_lane.recap})))
        host_lane.spans.sort(key=lambda s: (s.kind != "task", s.start))
        host_lane.marks.sort(key=lambda m: m.at)
    return Timeline(
        playbook=str(result.playbook), rc=result.rc, duration=result.duration, timed_out=result.timed_out,
        ansible_version=result.ansible_version, clock=how,
        lanes=[lanes[h] for h in sorted(lanes, key=_host_key)],
        jobs=[_plain({"task": j.task, "host": j.host, "item": j.item, "jid": j.jid, "launched": clock(j.launched_at),
                      "async": j.async_timeout, "poll": j.poll, "reaped": j.reaped, "outcome": j.outcome,
                      "runtime": j.runtime, "task_path": j.task_path, "job_file": job_file_fields(j.result),
                      "unknown_reason": j.unknown_reason}) for j in result.jobs],
        faults=[_plain({"fault": r.fault, "applied": r.applied, "at": r.at, "took": r.took, "host": r.host,
                        "jid": r.jid, "item": r.item, "detail": r.detail}) for r in result.faults],
        failures=[_plain({"task": f.task, "host": f.host, "at": f.at, "unreachable": f.unreachable,
                          "task_path": f.task_path, "jid": f.jid, "message": f.message}) for f in result.failures],
    )


# ---- drawing ----------------------------------------------------------------------------------------------

FONT = 11.0
CHAR_W = FONT * 0.62  # a monospace advance (DejaVu Sans Mono: 0.602 em); textLength pins each label to it
GUTTER = 150.0  # host names
RIGHT = 18.0
HEADER = 40.0  # the end label, then the axis' tick labels
ROW_H = 18.0
LANE_PAD = 5.0
GAP = 6.0  # between a label and the next bar on its row
WIDTH = 1200.0
PAIR_WIDTH = 720.0
OUTCOME_COLOURS = {"ok": "#2e9d4b", "failed": "#d62f2f", "timeout": "#f08c00", "vanished": "#8e44ad",
                   "running": "#8a8f98", "missing": "#b9bcc2", "unknown": "#8a8f98"}
TASK_COLOURS = {"ok": "#cfe9d4", "changed": "#f4e4a6", "failed": "#f5b5b5", "ignored": "#f8d4b0",
                "skipped": "#e6e7ea", "unreachable": "#dcc2ee", "running": "#d9dce1", "unknown": "#d9dce1"}


@dataclass(frozen=True)
class LabelBox:
    """Where one text label is drawn (SVG user units): ``x``, ``y`` top-left, ``w``, ``h``."""

    x: float
    y: float
    w: float
    h: float
    text: str

    def overlaps(self, other: LabelBox) -> bool:
        """Whether the two boxes share any area."""
        eps = 0.01
        return (self.x < other.x + other.w - eps and other.x < self.x + self.w - eps
                and self.y < other.y + other.h - eps and other.y < self.y + self.h - eps)


def _e(text: Any) -> str:
    """Text or attribute value, HTML-escaped (quotes too), control characters made visible."""
    cleaned = "".join(c if c in "\n\t" or ord(c) >= 32 else "?" for c in str(text))
    return html.escape(cleaned, quote=True)


def _fmt(seconds: Optional[float]) -> str:
    return "-" if seconds is None else f"{seconds:.2f}s"


def _text_width(text: str) -> float:
    return len(text) * CHAR_W


def _fit(text: str, width: float) -> str:
    """``text`` cut (ending in an ellipsis) to fit ``width``; empty if not even a few characters fit."""
    room = int(width // CHAR_W)
    if len(text) <= room:
        return text
    if room < 4:
        return ""
    return text[:room - 1] + "\u2026"


def _nice_step(span: float, plot_w: float, label_w: float) -> float:
    """A 1-2-5 tick step for ``span`` seconds whose labels (``label_w`` wide) never touch."""
    step = 10.0 ** math.floor(math.log10(max(span, 1e-3) / 12))
    while True:
        for factor in (1, 2, 5):
            candidate = step * factor
            if candidate * plot_w / span >= label_w + 10 and span / candidate <= 12:
                return candidate
        step *= 10


def _tick_label(value: float, step: float) -> str:
    digits = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:.{digits}f}s"


def _lines(detail: Mapping[str, Any], skip: Iterable[str] = ()) -> list[str]:
    out = []
    for key, value in detail.items():
        if key in skip or value in (None, "", {}, []):
            continue
        if isinstance(value, Mapping):
            out += [f"{key}.{k}: {v}" for k, v in value.items()]
        else:
            out.append(f"{key}: {value}")
    return out


class _Svg:
    """Collects one timeline's SVG elements and the boxes of its text labels."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.boxes: list[LabelBox] = []

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def label(self, x: float, baseline: float, text: str, cls: str = "label", title: Optional[str] = None) -> None:
        """A measured text label (left-aligned at ``x``): its box is recorded, its drawn width pinned to it."""
        if not text:
            return
        width = _text_width(text)
        self.boxes.append(LabelBox(x, baseline - FONT * 0.95, width, FONT * 1.2, text))
        inner = f"<title>{_e(title)}</title>" if title and title != text else ""
        self.add(f'<text class="{cls}" x="{x:.1f}" y="{baseline:.1f}" textLength="{width:.1f}" '
                 f'lengthAdjust="spacingAndGlyphs">{inner}{_e(text)}</text>')


@dataclass
class _Row:
    kind: str
    right: float = -math.inf  # where the last thing on this row ends (its label included)


def _pack(rows: list[_Row], kind: str, left: float, right: float) -> int:
    """The first row of ``kind`` free from ``left`` on (a new one if none is), reserving up to ``right``."""
    for index, row in enumerate(rows):
        if row.kind == kind and row.right <= left:
            row.right = right
            return index
    rows.append(_Row(kind, right))
    return len(rows) - 1


def _span_title(span: Span) -> str:
    head = (f"{span.kind} {span.label}\nhost {span.detail.get('host', '')}".rstrip() if span.kind == "job"
            else f"task {span.label}")
    when = f"{_fmt(span.start)} \u2192 {_fmt(span.end) if span.end is not None else 'not ended'}"
    length = f" ({span.end - span.start:.2f}s)" if span.end is not None else ""
    status = f"{'outcome' if span.kind == 'job' else 'status'}: {span.status}"
    return "\n".join([head, f"+{when}{length}", status, *_lines(span.detail, skip=("task", "host", "outcome"))])


def axis_end(timeline: Timeline) -> float:
    """Where the time axis ends: the timeline's end, or a job's ``async:`` deadline a little past it."""
    t_end = timeline.end
    deadlines = [m.at for lane in timeline.lanes for m in lane.marks if m.kind == "deadline"]
    near = [d for d in deadlines if d <= t_end * 1.3 + 1]  # a deadline just past the end widens the axis
    return max([t_end, *near, 1e-3]) * 1.02


def _draw(timeline: Timeline, width: float, t_max: Optional[float] = None) -> tuple[str, list[LabelBox]]:
    """One timeline as an ``<svg>`` element ``width`` units wide, and the boxes of its labels."""
    svg = _Svg()
    plot_l, plot_r = GUTTER, width - RIGHT
    plot_w = plot_r - plot_l
    t_end = timeline.end
    t_max = max(t_max or 0.0, axis_end(timeline))

    def x(t: float) -> float:
        return plot_l + max(0.0, min(t, t_max)) / t_max * plot_w

    # the header: the end label on line 1, tick labels on line 2
    widest = _text_width(_tick_label(t_max, 1.0)) + CHAR_W * 2
    step = _nice_step(t_max, plot_w, widest)
    ticks = [i * step for i in range(int(t_max / step) + 1)]
    grid = []
    for tick in ticks:
        text = _tick_label(tick, step)
        if x(tick) + 2 + _text_width(text) <= plot_r:
            svg.label(x(tick) + 2, HEADER - 10, text, cls="tick")
        grid.append(x(tick))
    end_text = f"end +{timeline.duration:.2f}s rc={timeline.rc}" + (" (timed out)" if timeline.timed_out else "")
    end_x = min(max(x(timeline.duration) - _text_width(end_text) / 2, plot_l), plot_r - _text_width(end_text))
    svg.label(end_x, 13, end_text, cls="endlabel")
    svg.label(4, HEADER - 10, "seconds from start", cls="axislabel")

    y = HEADER
    for index, lane in enumerate(timeline.lanes):
        rows: list[_Row] = []
        placed: list[tuple[Span, int, str, float]] = []
        for span in lane.tasks():  # tasks pack by time: a label never leaves its bar
            x0 = x(span.start)
            x1 = max(x(span.end if span.end is not None else t_end), x0 + 2)
            text = _fit(span.label, x1 - x0 - 6)
            end = span.end if span.end is not None else t_end
            placed.append((span, _pack(rows, "task", span.start, max(end, span.start + 1e-9)), text, x0 + 3))
        if not rows:
            rows.append(_Row("task"))
        job_row: dict[str, int] = {}
        for span in lane.jobs():  # jobs pack by drawn extent, their label included
            x0 = x(span.start)
            x1 = max(x(span.end if span.end is not None else t_end), x0 + 3)
            full = f"{span.label}: {span.status}"
            lx = x0 + 3
            for fx in sorted(x(m.at) for m in lane.marks if m.kind == "fault" and m.jid == span.jid):
                if lx - 8 <= fx <= lx + _text_width(full):
                    lx = fx + 8  # the label starts after the fault's diamond, which stays visible
            if lx + _text_width(full) > x1 - 3:  # not inside the bar: after it, so the whole bar shows
                lx = max(lx, x1 + 4)
            text = _fit(full, plot_r - 14 - lx)
            right = max(x1, lx + _text_width(text)) + GAP
            row = _pack(rows, "job", x0, right)
            placed.append((span, row, text, lx))
            if span.jid:
                job_row[span.jid] = row
        lane_h = LANE_PAD * 2 + ROW_H * len(rows)
        svg.add(f'<g class="lane" data-host="{_e(lane.host)}">')
        svg.add(f'<rect class="lanebg{" odd" if index % 2 else ""}" x="0" y="{y:.1f}" width="{width:.1f}" '
                f'height="{lane_h:.1f}"><title>{_e(lane.host)}</title></rect>')
        host_text = _fit(lane.host, GUTTER - 12)
        recap = " ".join(f"{k}={v}" for k, v in lane.recap.items())
        svg.label(4, y + LANE_PAD + 13, host_text, cls="host", title=f"{lane.host}\n{recap}".strip())

        def row_top(row: int, lane_y: float = y) -> float:
            return lane_y + LANE_PAD + row * ROW_H

        labels: list[tuple[float, float, str, str, str]] = []
        plates: list[str] = []
        for span, row, text, lx in placed:
            top = row_top(row)
            x0 = x(span.start)
            x1 = max(x(span.end if span.end is not None else t_end), x0 + (2 if span.kind == "task" else 3))
            title = _e(_span_title(span))
            if span.kind == "task":
                svg.add(f'<g class="task s-{_e(span.status)}" data-host="{_e(lane.host)}" data-task="{_e(span.label)}"'
                        f' data-status="{_e(span.status)}"><title>{title}</title>'
                        f'<rect x="{x0:.1f}" y="{top + 3:.1f}" width="{x1 - x0:.1f}" height="12" rx="2"/></g>')
                labels.append((lx, top + 13, text, "tasklabel", span.label))
            else:
                open_end = " open" if span.end is None else ""
                svg.add(f'<g class="job o-{_e(span.status)}{open_end}" data-host="{_e(lane.host)}" '
                        f'data-jid="{_e(span.jid or "")}" data-outcome="{_e(span.status)}"><title>{title}</title>'
                        f'<rect x="{x0:.1f}" y="{top + 2:.1f}" width="{x1 - x0:.1f}" height="14" rx="3"/></g>')
                inside = lx + _text_width(text) <= x1 - 3
                if text and not inside:  # a plate under the label hides the poll ticks it crosses
                    plates.append(f'<rect class="plate" x="{lx - 1:.1f}" y="{top + 3:.1f}" '
                                  f'width="{_text_width(text) + 2:.1f}" height="12" rx="2"/>')
                labels.append((lx, top + 13, text, "label inside" if inside else "label",
                               f"{span.label}: {span.status} (jid {span.jid})"))
        for mark in lane.marks:
            if mark.kind == "end":
                continue
            row = job_row.get(mark.jid or "", 0)
            top = row_top(row)
            mx = x(mark.at)
            title = _e("\n".join([f"{mark.kind} +{mark.at:.2f}s" + (f" (took {mark.took * 1000:.0f} ms)"
                                                                      if mark.took is not None else ""),
                                  mark.label, *([f"jid: {mark.jid}"] if mark.jid else []),
                                  *_lines(mark.detail, skip=("jid", "read", "took", "fault"))]))
            data = f'data-host="{_e(lane.host)}" data-jid="{_e(mark.jid or "")}"'
            if mark.kind == "poll":
                finished = " done" if str(mark.detail.get("read", "")).startswith("finished") else ""
                svg.add(f'<g class="poll{finished}" {data}><title>{title}</title>'
                        f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{top + 1:.1f}" y2="{top + 17:.1f}"/>'
                        f'<rect class="hit" x="{mx - 2:.1f}" y="{top:.1f}" width="4" height="{ROW_H:.1f}"/></g>')
            elif mark.kind == "deadline":
                if mark.at > t_max:  # far past the end: an arrow at the right edge
                    svg.add(f'<g class="deadline off" {data}><title>{title}\n(past the right edge)</title>'
                            f'<path d="M{plot_r + 2:.1f},{top + 4:.1f} l8,5 l-8,5 z"/></g>')
                else:
                    svg.add(f'<g class="deadline" {data}><title>{title}</title>'
                            f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{top - 1:.1f}" y2="{top + ROW_H + 1:.1f}"/>'
                            f'<rect class="hit" x="{mx - 3:.1f}" y="{top:.1f}" width="6" height="{ROW_H:.1f}"/></g>')
            elif mark.kind == "fault":
                took = x(mark.at + (mark.took or 0.0)) - mx
                cy = top + 9
                missed = "" if mark.detail.get("applied", True) else " missed"
                svg.add(f'<g class="fault{missed}" {data}><title>{title}</title>'
                        f'<rect class="took" x="{mx:.1f}" y="{top + 15:.1f}" width="{max(took, 1.5):.1f}" '
                        f'height="3"/><path d="M{mx:.1f},{cy - 7:.1f} l6,7 l-6,7 l-6,-7 z"/></g>')
        ex = x(timeline.duration)
        end_title = _e(f"end of the play +{timeline.duration:.2f}s, rc={timeline.rc}\n{lane.host}: {recap}")
        svg.add(f'<g class="end" data-host="{_e(lane.host)}"><title>{end_title}</title>'
                f'<line x1="{ex:.1f}" x2="{ex:.1f}" y1="{y:.1f}" y2="{y + lane_h:.1f}"/></g>')
        svg.parts += plates
        for lx, baseline, text, cls, full in labels:  # over the ticks and marks, so they stay readable
            svg.label(lx, baseline, text, cls=cls, title=full)
        svg.add("</g>")
        y += lane_h
    height = y + 8
    body = [f'<line class="grid" x1="{gx:.1f}" x2="{gx:.1f}" y1="{HEADER - 6:.1f}" y2="{y:.1f}"/>' for gx in grid]
    head = (f'<svg class="timeline" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'width="{width:.0f}" height="{height:.0f}" role="img" '
            f'aria-label="timeline of {_e(timeline.playbook)}">')
    # grid under the lanes' backgrounds would vanish: lanes first, then grid lines over them, then the rest
    lanes_bg = [p for p in svg.parts if p.startswith('<rect class="lanebg')]
    rest = [p for p in svg.parts if not p.startswith('<rect class="lanebg')]
    return "".join([head, *lanes_bg, *body, *rest, "</svg>"]), svg.boxes


def label_boxes(timeline: Timeline, width: float = WIDTH, t_max: Optional[float] = None) -> list[LabelBox]:
    """The boxes of every text label ``render_svg`` draws for ``timeline`` (no two overlap)."""
    return _draw(timeline, width, t_max)[1]


def render_svg(timeline: Timeline, width: float = WIDTH, t_max: Optional[float] = None) -> str:
    """The timeline alone, as one ``<svg>`` element ``width`` units wide; its axis runs to ``t_max`` seconds or
    further (timelines side by side share one scale)."""
    return _draw(timeline, width, t_max)[0]


# ---- the page ---------------------------------------------------------------------------------------------

CSS = """
body{font:14px/1.4 system-ui,"DejaVu Sans",sans-serif;color:#1d2025;margin:16px;background:#fff}
h1{font-size:20px;margin:0 0 8px} h2{font-size:17px;margin:24px 0 4px}
.verdict{margin:0 0 8px;font-weight:600}
.panes{display:flex;gap:16px;align-items:flex-start}
.pane{margin:0;flex:1 1 0;min-width:0;overflow-x:auto}
.pane figcaption{font-weight:600;margin:4px 0}
.facts{color:#4a4f57;margin:0 0 6px}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;margin:6px 0 10px;font-size:12px;color:#333}
.legend span{display:inline-flex;align-items:center;gap:5px}
.sw{display:inline-block;width:18px;height:10px;border-radius:2px}
svg.timeline{display:block;max-width:none;background:#fff}
svg text{font-family:"DejaVu Sans Mono",ui-monospace,monospace;font-size:11px;fill:#1d2025;white-space:pre}
svg .tasklabel{paint-order:stroke;stroke:#fff;stroke-width:2px;stroke-linejoin:round}
svg .label.inside{fill:#fff;font-weight:bold} .plate{fill:#fff;fill-opacity:.9;pointer-events:none}
svg .tick,svg .axislabel{fill:#5b616b} svg .endlabel{font-weight:bold} svg .host{font-weight:bold}
.lanebg{fill:#fbfbfc} .lanebg.odd{fill:#f1f3f6} .grid{stroke:#dfe2e7;stroke-width:1}
.task rect{stroke:#9aa0a8;stroke-width:.6}
.job rect{stroke:#1d2025;stroke-width:.6} .job.open rect{stroke-dasharray:4 2}
.poll line{stroke:#4a4f57;stroke-width:1} .poll.done line{stroke:#000;stroke-width:2}
.hit{fill:transparent}
.deadline line{stroke:#b35c00;stroke-width:2;stroke-dasharray:5 3} .deadline path{fill:#b35c00}
.fault path{fill:#000;stroke:#fff;stroke-width:1} .fault .took{fill:#000}
.fault.missed path{fill:#fff;stroke:#000;stroke-width:1.5}
.end line{stroke:#1d2025;stroke-width:2}
table{border-collapse:collapse;margin:8px 0 4px;font-size:12px}
th,td{border:1px solid #d5d8dd;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f1f3f6} td.num{text-align:right} td.code{font-family:"DejaVu Sans Mono",monospace;font-size:11px}
caption{text-align:left;font-weight:600;padding:4px 0}
.verdicts td:first-child{font-family:"DejaVu Sans Mono",monospace;font-size:11px} a.back{font-size:12px;font-weight:400}
.verdicts td.word{font-weight:600;white-space:nowrap}
.verdicts tr.v-swallowed td.word{background:#fde2e1} .verdicts tr.v-not-proven td.word{background:#fff3cd}
td.code{overflow-wrap:anywhere} table.ledger{width:max-content} .ledger td{white-space:nowrap}
.ledger td:last-child{white-space:normal;min-width:24em;max-width:44em}
.noplay{color:#4a4f57;font-style:italic}
"""


def _css() -> str:
    rules = [f".job.o-{k} rect{{fill:{v}}}" for k, v in OUTCOME_COLOURS.items()]
    rules += [f".task.s-{k} rect{{fill:{v}}}" for k, v in TASK_COLOURS.items()]
    return CSS + "\n".join(rules) + "\n"


def _legend() -> str:
    items = [f'<span><i class="sw" style="background:{c}"></i>job {_e(k)}</span>' for k, c in OUTCOME_COLOURS.items()
             if k != "unknown"]
    items += [f'<span><i class="sw" style="background:{TASK_COLOURS[k]};border:1px solid #9aa0a8"></i>task {k}</span>'
              for k in ("ok", "changed", "failed", "skipped")]
    marks = [("poll", '<line x1="9" x2="9" y1="0" y2="12" stroke="#4a4f57"/>'),
             ("poll that read the end", '<line x1="9" x2="9" y1="0" y2="12" stroke="#000" stroke-width="2"/>'),
             ("fault (bar: how long it took)", '<path d="M9,0 l6,6 l-6,6 l-6,-6 z" fill="#000"/>'),
             ("fault that did not apply", '<path d="M9,1 l5,5 l-5,5 l-5,-5 z" fill="#fff" stroke="#000"/>'),
             ("async: deadline", '<line x1="9" x2="9" y1="0" y2="12" stroke="#b35c00" stroke-width="2" '
                                 'stroke-dasharray="4 2"/>'),
             ("end of the play", '<line x1="9" x2="9" y1="0" y2="12" stroke="#1d2025" stroke-width="2"/>')]
    items += [f'<span><svg width="18" height="12" aria-hidden="true">{shape}</svg>{_e(name)}</span>'
              for name, shape in marks]
    return '<div class="legend">' + "".join(items) + "</div>"


def _table(caption: str, header: Sequence[str], rows: Iterable[Sequence[Any]], cls: str,
           numeric: Iterable[int] = (), code: Iterable[int] = ()) -> str:
    numeric, code = set(numeric), set(code)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            kind = ' class="num"' if i in numeric else ' class="code"' if i in code else ""
            cells.append(f"<td{kind}>{_e('' if value is None else value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        return ""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    return (f'<table class="{cls}"><caption>{_e(caption)}</caption><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _tables(timeline: Timeline) -> str:
    keys = ("ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored")
    recap = _table("recap", ["host", *keys], ([lane.host, *(lane.recap.get(k, 0) for k in keys)]
                                              for lane in timeline.lanes if lane.recap),
                   "recap", numeric=range(1, len(keys) + 1))
    ledger = _table(
        "job ledger", ["task", "host", "item", "jid", "launched", "async", "poll", "reaped", "outcome", "runtime",
                       "job file"],
        ([j["task"], j["host"], j["item"], j["jid"], _fmt(j["launched"]), j["async"], j["poll"], j["reaped"],
          j["outcome"] + (f" ({j['unknown_reason']})" if j.get("unknown_reason") else ""), _fmt(j["runtime"]),
          json.dumps(j["job_file"]) if j["job_file"] else "-"] for j in timeline.jobs),
        "ledger", numeric=(4, 5, 6, 9), code=(3, 10))
    faults = _table("faults", ["fault", "host", "jid", "applied", "at", "took", "detail"],
                    ([f["fault"], f["host"], f["jid"], f["applied"], _fmt(f["at"]),
                      "-" if f["took"] is None else f"{f['took'] * 1000:.0f} ms", f["detail"]]
                     for f in timeline.faults), "faults", numeric=(4, 5), code=(2,))
    failures = _table("failed tasks", ["task", "host", "at", "message"],
                      ([f["task"] + (" (unreachable)" if f["unreachable"] else ""), f["host"], _fmt(f["at"]),
                        f["message"]] for f in timeline.failures), "failures", numeric=(2,))
    return recap + failures + ledger + faults


def _pane(label: Optional[str], timeline: Timeline, width: float, t_max: float) -> str:
    caption = f"<figcaption>{_e(label)}</figcaption>" if label else ""
    facts = (f'<p class="facts">{_e(timeline.playbook)}: rc={timeline.rc}'
             f'{" (timed out)" if timeline.timed_out else ""}, {timeline.duration:.2f}s, '
             f'{len(timeline.lanes)} host(s), {len(timeline.jobs)} async job(s)'
             f'{", ansible-core " + timeline.ansible_version if timeline.ansible_version else ""}'
             f'{"; times from the first event (start not recorded)" if timeline.clock != "recorded" else ""}</p>')
    return f'<figure class="pane">{caption}{facts}{render_svg(timeline, width, t_max)}{_tables(timeline)}</figure>'


@dataclass
class Section:
    """One part of a page: a title, a verdict line, and up to two (label, Timeline) panes side by side (none:
    an item that never played, such as a broken playbook's, shows its title and verdict alone)."""

    title: str
    verdict: str = ""
    panes: Sequence[tuple[str, Timeline]] = ()


#: Verdicts to read first, in this order (a section's verdict line starts with one); the rest keep page order.
FIRST_VERDICTS = ("swallowed", "not-proven", "not proven", "error", "test failed", "disagree")


def verdict_rank(verdict: str) -> int:
    """Where a section's verdict goes in the page's verdict table: what failed silently first."""
    head = verdict.strip().lower()
    return next((i for i, word in enumerate(FIRST_VERDICTS) if head.startswith(word)), len(FIRST_VERDICTS))


def _verdict_table(sections: Sequence[Section]) -> str:
    """The page's first screen: one row per section, swallowed and not-proven first, each linking to its part."""
    order = sorted(range(len(sections)), key=lambda i: verdict_rank(sections[i].verdict))
    rows = []
    for i in order:
        section = sections[i]
        head = section.verdict.strip().splitlines()[0] if section.verdict.strip() else "-"
        said, _, why = head.partition(": ")
        word = said.strip().lower().replace(" ", "-")
        why = why.strip()
        why = why if len(why) <= 140 else why[:139].rstrip() + "\u2026"  # its start: what happened, not the job file
        rows.append(f'<tr class="v-{_e(word)}"><td><a href="#part-{i + 1}">{_e(section.title)}</a></td>'
                    f'<td class="word">{_e(said.strip())}</td><td>{_e(why)}</td></tr>')
    return ('<table id="verdicts" class="verdicts"><caption>Verdicts: what failed silently first; '
            "each row links to its plays</caption><tr><th>item</th><th>verdict</th><th>why</th></tr>"
            + "".join(rows) + "</table>")


def render_page(sections: Sequence[Section], title: str = "pytest-asyncplay timelines") -> str:
    """A self-contained HTML page (inline SVG and CSS, no script, nothing fetched): when the sections carry
    verdicts, the verdict table first (``_verdict_table``), then one part per section, each linking back to it."""
    parts = []
    tabled = any(section.verdict for section in sections)  # a page of verdicts, not one play's drawing
    back = ' <a class="back" href="#verdicts">verdicts &#8593;</a>' if tabled else ""
    for number, section in enumerate(sections, start=1):
        if len(section.panes) > 2:
            raise ValueError(f"section {section.title!r} has {len(section.panes)} timelines; give 0, 1 or 2")
        width = WIDTH if len(section.panes) == 1 else PAIR_WIDTH
        t_max = max((axis_end(timeline) for _, timeline in section.panes), default=0.0)  # one scale for both
        panes = "".join(_pane(label, timeline, width, t_max) for label, timeline in section.panes)
        if not section.panes:
            panes = '<p class="noplay">no play to show: this item never got to play</p>'

        verdict = f'<p class="verdict">{_e(section.verdict)}</p>' if section.verdict else ""
        parts.append(f'<section class="play" id="part-{number}"><h2>{_e(section.title)}{back}</h2>{verdict}'
                     f'<div class="panes">{panes}</div></section>')
    table = _verdict_table(sections) if tabled else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            f"<title>{_e(title)}</title><style>{_css()}</style></head>\n<body><h1>{_e(title)}</h1>{table}{_legend()}"
            + "\n".join(parts) + "</body></html>\n")


def render_html(timeline: Timeline, title: Optional[str] = None) -> str:
    """The page of one play's timeline."""
    title = title or f"timeline of {timeline.playbook}"
    return render_page([Section(title=timeline.playbook, panes=[("", timeline)])], title=title)


__all__ = ["HostLane", "LabelBox", "Mark", "Section", "Span", "Timeline", "axis_end", "build_timeline", "label_boxes",
           "play_clock", "render_html", "render_page", "render_svg"]
