"""Jinja2 over values the lint may not know: ansible-core's own filters and tests, three-valued logic.

The lint evaluates every keyword a task has (``jid``, ``loop``, ``when``, ``until``, ``failed_when``,
``that``, ``set_fact`` values...) as Ansible would, over a symbolic host state. A value the lint cannot
know (an inventory variable, a fact, an extra var) is an :class:`Unknown`, and an unknown propagates:
``Unknown and False`` is False, ``Unknown or True`` is True, anything else built on it is unknown. A
value that is known to be missing (an attribute a killed job's result does not have) is Jinja2's
:class:`~jinja2.StrictUndefined`, as in Ansible: ``is defined`` is false, ``default()`` applies, and any
other use is a template error (which fails the task).

Expressions are parsed by Jinja2 itself; control flow (``and``, ``or``, ``not``, ``if``/``else``,
comparisons) is walked here, three-valued, and every filter and test is the installed ansible-core's
own (the Jinja2 built-ins such as ``selectattr``, ``map``, ``select``, ``default`` included), called
with known arguments. A filter that is not installed (``json_query`` without community.general) gives
an :class:`Unknown` naming it, marked *unevaluated*: the lint could not compute it, which is not the same as a
value the run itself cannot know, and no verdict may rest on a guess about it. Nothing here runs a module or
touches a host.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import jinja2
import jinja2.runtime
from jinja2 import nodes

__all__ = [
    "MISSING",
    "OMIT",
    "Evaluator",
    "NotSetYet",
    "Open",
    "PartialError",
    "TemplateError",
    "Undecidable",
    "Unknown",
    "derived",
    "is_unknown",
    "plugins",
    "truth",
]


class Undecidable(Exception):
    """Raised inside a filter or test when it needs to know an :class:`Unknown` (its truth, its items)."""

    def __init__(self, why: str, unevaluated: bool = False) -> None:
        super().__init__(why)
        self.why = why
        self.unevaluated = unevaluated


class TemplateError(Exception):
    """A template that Ansible itself could not render (an undefined used, a filter's own error): the task fails.

    ``unset`` names the variable when what failed is a :class:`NotSetYet` one used bare."""

    def __init__(self, message: str, unset: str | None = None) -> None:
        super().__init__(message)
        self.unset = unset


class NotSetYet(jinja2.StrictUndefined):
    """A variable the run sets later (``set_fact``), read before it does: undefined, unless the inventory or
    extra vars give it. ``default()`` and ``is defined`` take it as undefined; a bare use fails the template
    with :attr:`TemplateError.unset` naming it, so the caller can tell that failure is not certain."""

    __slots__ = ()


def _undefined_error(value: jinja2.Undefined) -> TemplateError:
    unset = value._undefined_name if isinstance(value, NotSetYet) else None
    return TemplateError(value._undefined_message, unset=unset if isinstance(unset, str) else None)


class PartialError(TemplateError):
    """A condition that fails only on some of the ways it can be: ``a and b`` with ``a`` unknown and ``b`` an
    error is false where ``a`` is (Jinja2 never evaluates ``b`` there). ``otherwise`` is its truth on the ways
    that do not fail (None: either)."""

    def __init__(self, message: str, otherwise: bool | None) -> None:
        super().__init__(message)
        self.otherwise = otherwise


class Unknown:
    """A value the lint cannot know. ``why`` names it (``'osd_group' (inventory, facts or extra vars)``).

    ``external`` when it comes from outside the run (inventory, facts, extra vars) and only plain values
    were mixed into it: such a value cannot hold a job id, which only exists inside the run.

    ``unevaluated`` when the lint could not compute it (a filter or test not installed here, a lookup or function
    it does not call): unlike a value the run cannot know, a way of the run that a guess about it decides is
    not established.

    ``values``, when not None, holds every value it can be (a join of the ways a run can go, each of
    which left a known value; :data:`MISSING` for a way that left none): the lint can then tell, for
    one, that a job id is none of this launch's jobs.

    Attribute and item access give unknowns too. Its truth, length, items and text are undecidable:
    a filter that needs them raises :class:`Undecidable`, and the filter's result is unknown.
    """

    __slots__ = ("external", "unevaluated", "values", "why")
    why: str
    external: bool
    values: tuple[Any, ...] | None
    unevaluated: bool

    def __init__(self, why: str, external: bool = False, values: tuple[Any, ...] | None = None,
                 unevaluated: bool = False) -> None:
        object.__setattr__(self, "why", why)
        object.__setattr__(self, "external", external)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "unevaluated", unevaluated)

    def __repr__(self) -> str:
        return f"Unknown({self.why!r})"

    def __getattr__(self, name: str) -> Unknown:
        if name.startswith("__"):
            raise AttributeError(name)
        return Unknown(self.why, self.external, unevaluated=self.unevaluated)

    def __getitem__(self, key: object) -> Unknown:
        return Unknown(self.why, self.external, unevaluated=self.unevaluated)

    def _undecidable(self, *args: object) -> Any:
        raise Undecidable(self.why, self.unevaluated)

    __bool__ = __len__ = __iter__ = __str__ = __contains__ = __int__ = __float__ = _undecidable
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _undecidable  # type: ignore[assignment]
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __mod__ = __truediv__ = _undecidable
    __hash__ = object.__hash__


class _Missing:
    """In :attr:`Unknown.values`: a way of the run on which the value was never set."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


def is_unknown(value: object) -> bool:
    """Whether ``value`` is an :class:`Unknown`."""
    return isinstance(value, Unknown)


class Open(dict):  # type: ignore[type-arg]
    """A mapping of which only some keys are known: a missing key is unknown, not undefined.

    Used for a task's registered result (the lint knows ``failed`` and ``skipped``, not ``stdout``) and
    for a healthy job's result.
    """

    why = "a field of a task's result"
    #: Keys known to be missing (a plain task's result has no ``ansible_job_id``).
    absent: frozenset[str] = frozenset()
    #: Keys that may be missing, each with the :class:`Unknown` it is when present (a join of ways of a run).
    maybe: Mapping[str, Unknown] = {}
    #: Whether every key that is neither held nor in :attr:`maybe` is known to be missing.
    closed = False

    def __missing__(self, key: object) -> Any:
        if key in self.maybe:
            return self.maybe[key]  # type: ignore[index]
        if key in self.absent or self.closed:
            return _undefined(f"{self.why} has no attribute {key!r}")
        return Unknown(f"{key!r} of {self.why}")

    def __contains__(self, key: object) -> bool:
        if dict.__contains__(self, key):
            return True
        if key not in self.maybe and (key in self.absent or self.closed):
            return False
        raise Undecidable(f"whether {key!r} is in {self.why}")

    def get(self, key: Any, default: Any = None) -> Any:  # type: ignore[override]
        return self[key]


class _Omit:
    """Ansible's ``omit``: the keyword or argument takes its default."""

    def __repr__(self) -> str:
        return "omit"


OMIT = _Omit()

_UNDEFINED_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined)


def _undefined(hint: str) -> jinja2.StrictUndefined:
    return jinja2.StrictUndefined(hint=hint)


def truth(value: object) -> bool | None:
    """Python truth of a known value, None for an unknown one (and a :class:`TemplateError` for undefined)."""
    if isinstance(value, Unknown):
        return None
    if isinstance(value, jinja2.Undefined):
        raise _undefined_error(value)
    try:
        return bool(value)
    except Undecidable:
        return None


# --------------------------------------------------------------------------------------------------
# ansible-core's filters and tests



def derived(values: Iterable[Any]) -> Unknown | None:
    """The unknown a computation over ``values`` gives (None when none of them is unknown): external only
    when every unknown among them is and the rest are plain values (scalars, or lists and mappings of them, such
    as the ``[]`` of ``ternary(x.results, [])``), none of which is a task's result."""
    unknowns = [v for v in values if isinstance(v, Unknown)]
    if not unknowns:
        return None
    external = all(u.external for u in unknowns) and all(
        isinstance(v, (Unknown, jinja2.nodes.EvalContext, jinja2.runtime.Context)) or _plain(v) for v in values)
    first = next((u for u in unknowns if u.unevaluated), unknowns[0])
    return Unknown(first.why, external, unevaluated=first.unevaluated)


def _plain(value: Any, depth: int = 0) -> bool:
    """A scalar, or a small list or mapping of scalars (not a task's result: no ``failed``/``ansible_job_id``)."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return True
    if depth > 3 or isinstance(value, Open):
        return False
    if isinstance(value, (list, tuple)):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return not ({"ansible_job_id", "failed", "results"} & set(value)) and all(
            _plain(v, depth + 1) for v in value.values())
    return False


def _guarded(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``function`` that gives an unknown when its value or an argument is unknown, or when it needs one."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        unknown = derived((*args, *kwargs.values()))
        if unknown is not None:
            return unknown
        try:
            return function(*args, **kwargs)
        except Undecidable as exc:
            return Unknown(exc.why, unevaluated=exc.unevaluated)

    return call


@functools.lru_cache(maxsize=1)
def plugins() -> tuple[dict[str, Callable[..., Any]], dict[str, Callable[..., Any]]]:
    """``(filters, tests)`` of the installed ansible-core (by short name and FQCN) over Jinja2's built-ins."""
    from ansible.plugins import loader

    init = getattr(loader, "init_plugin_loader", None)
    if init is not None:
        try:
            init()
        except Exception:
            pass
    found: list[dict[str, Callable[..., Any]]] = []
    for builtin, plugin_loader in ((jinja2.filters.FILTERS, loader.filter_loader),
                                   (jinja2.tests.TESTS, loader.test_loader)):
        table: dict[str, Callable[..., Any]] = dict(builtin)  # type: ignore[arg-type]
        for plugin in plugin_loader.all():
            function = getattr(plugin, "j2_function", None)
            name = getattr(plugin, "ansible_name", None) or getattr(plugin, "_load_name", "")
            if function is None or not name:
                continue
            table[name] = function
            # ansible-core's own plugins shadow Jinja2's built-ins of the same short name (its ``random``,
            # ``min``, ``max``, ``unique``), as its templar's plugin intercept does
            table[name.rsplit(".", 1)[-1]] = function
        found.append(table)
    return found[0], found[1]


def _lookup_plugin(kind: str, name: str) -> Callable[..., Any] | None:
    """A filter or test outside ansible.builtin (a collection's), when it is installed."""
    from ansible.plugins import loader

    plugin_loader = loader.filter_loader if kind == "filter" else loader.test_loader
    try:
        plugin = plugin_loader.get(name)
    except Exception:
        return None
    return getattr(plugin, "j2_function", None) if plugin is not None else None


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    filters, tests = plugins()
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"])
    env.filters.update({name: _guarded(f, name) for name, f in filters.items() if name not in ("default", "d")})
    env.tests.update({name: _guarded(t, name) for name, t in tests.items() if name not in ("defined", "undefined")})
    for name in _CHOSEN_AT_RUN_TIME:
        for known in (name, "ansible.builtin." + name):
            if known in env.filters:
                env.filters[known] = _chosen_at_run_time(known)
    env.tests["defined"] = _defined
    env.tests["undefined"] = lambda value: not _defined(value)
    return env


#: Filters whose value is drawn when the play runs: evaluating them here would decide a path by chance.
_CHOSEN_AT_RUN_TIME = ("random", "shuffle")


def _chosen_at_run_time(name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return Unknown(f"the filter {name!r} (its value is drawn when the play runs)")

    return call


def _defined(value: object) -> bool:
    """Jinja2's ``defined`` test, undecidable on an unknown (which may or may not be defined)."""
    if isinstance(value, Unknown):
        raise Undecidable(value.why, value.unevaluated)
    return not isinstance(value, jinja2.Undefined)


def _parse(text: str) -> nodes.Node:
    """The expression of ``text`` (a bare condition or one ``{{ }}``), or the template's Output body; a
    template that is not valid raises its :class:`jinja2.TemplateSyntaxError` (each time, parsed once)."""
    parsed = _parsed(text)
    if isinstance(parsed, tuple):
        error = jinja2.TemplateSyntaxError(*parsed)
        error.translated = True  # the message already reads as Jinja2 put it
        raise error
    return parsed


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> nodes.Node | tuple[str, int]:
    env = _environment()
    try:
        template = env.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return str(exc), exc.lineno
    body = template.body
    if len(body) == 1 and isinstance(body[0], nodes.Output):
        parts = body[0].nodes
        if len(parts) == 1 and not isinstance(parts[0], nodes.TemplateData):
            return parts[0]
        return body[0]
    return template


@functools.lru_cache(maxsize=1024)
def _compiled(text: str) -> tuple[jinja2.Template, frozenset[str]]:
    """``text`` compiled in the lint's environment, and the names it reads (compiling is the costly part)."""
    from jinja2 import meta

    env = _environment()
    return env.from_string(text), frozenset(meta.find_undeclared_variables(env.parse(text)))


_BINARY: dict[type[nodes.Node], Callable[[Any, Any], Any]] = {
    nodes.Add: operator.add, nodes.Sub: operator.sub, nodes.Mul: operator.mul, nodes.Div: operator.truediv,
    nodes.FloorDiv: operator.floordiv, nodes.Mod: operator.mod, nodes.Pow: operator.pow,
}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "lteq": operator.le, "gt": operator.gt,
    "gteq": operator.ge, "in": lambda a, b: a in b, "notin": lambda a, b: a not in b,
}
_SAFE_METHODS = frozenset({
    "get", "keys", "values", "items", "startswith", "endswith", "find", "rfind", "split", "rsplit", "strip",
    "lstrip", "rstrip", "lower", "upper", "replace", "join", "count", "index", "splitlines", "format", "copy",
    "isdigit", "title", "capitalize",
})  # fmt: skip
_LOOKUPS = frozenset({"lookup", "query", "q"})
_WRAPPED = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.S)


class Evaluator:
    """Evaluates templates and conditions with ``resolve`` naming each variable.

    ``resolve(name)`` returns the variable's value, an :class:`Unknown`, or a
    :class:`~jinja2.StrictUndefined`. ``assumed`` holds conditions (as parsed expressions) known true
    here: the conjuncts of the launch's own ``when:`` hold wherever its job exists.

    An expression whose truth rests on an *unevaluated* unknown (see :class:`Unknown`) takes its truth from
    ``decisions`` (keyed by :func:`node_key`, or ``"template:" + text`` for a templated condition) when it is
    there; otherwise it is unknown, and ``on_guess(key, value)`` hears of it: the way of the run that goes on
    from there rests on a guess.
    """

    def __init__(self, resolve: Callable[[str], Any], assumed: frozenset[str] = frozenset(),
                 lenient_undefined: bool = False, on_guess: Callable[[str, Unknown], None] | None = None,
                 decisions: Mapping[str, bool] | None = None) -> None:
        self.resolve = resolve
        self.assumed = assumed
        self.on_guess = on_guess
        self.decisions = decisions or {}
        #: ansible-core up to 2.18: an undefined value reaches a test (``is none`` on it is false) and its
        #: attributes are undefined too; from 2.19 both fail the template.
        self.lenient_undefined = lenient_undefined
        self.env = _environment()

    # -- entry points ----------------------------------------------------------------------------

    def template(self, value: Any) -> Any:
        """A keyword or argument value rendered: strings with ``{{ }}`` evaluated, containers walked."""
        if isinstance(value, str):
            if "{{" not in value and "{%" not in value:
                return value
            return self._text(value)
        if isinstance(value, list):
            return [self.template(v) for v in value]
        if isinstance(value, dict):
            return {k: self.template(v) for k, v in value.items()}
        return value

    def condition(self, value: Any) -> bool | None:
        """A ``when:``-style condition (a string, a bool, or a list of them, all of which must hold). A list is
        read as ansible-core reads ``when``, ``failed_when``, ``changed_when`` and ``that``: in order, stopping at
        the first false one, so a later one that cannot be rendered fails only the ways that get to it
        (:class:`PartialError` when an unknown one before it decides)."""
        if isinstance(value, list):
            unknown = False
            for part in value:
                try:
                    result = self.condition(part)
                except PartialError as exc:
                    raise PartialError(str(exc), False if exc.otherwise is False else None) from exc
                except TemplateError as exc:
                    if unknown:  # false wherever an unknown before it is: those ways never get here
                        raise PartialError(str(exc), False) from exc
                    raise
                if result is False:
                    return False
                unknown = unknown or result is None
            return None if unknown else True
        if value is None:
            return True
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            return bool(value)
        text = str(value).strip()
        match = _WRAPPED.match(text)
        if match and "{{" not in match.group(1) and "{%" not in text:
            text = match.group(1)
        if "{{" in text or "{%" in text:
            rendered = self._text(text)
            return self._guessed("template:" + text, rendered, _ansible_bool(rendered))
        if text.lower() in ("true", "yes", "on"):
            return True
        if text.lower() in ("false", "no", "off", ""):
            return False
        return self.truth_of(_expression(text, "condition"))

    def expression(self, text: str) -> Any:
        """The value of one Jinja2 expression (no ``{{ }}``)."""
        return self.eval(_expression(text, "expression"))

    # -- the walk --------------------------------------------------------------------------------

    def _text(self, text: str) -> Any:
        try:
            node = _parse(text)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{text!r} is not a valid template: {exc}") from exc
        if isinstance(node, nodes.Template):
            return self._render(text)
        if isinstance(node, nodes.Output):
            out: list[str] = []
            for part in node.nodes:
                value = part.data if isinstance(part, nodes.TemplateData) else self.eval(part)
                if isinstance(value, Unknown):
                    return value
                if isinstance(value, jinja2.Undefined):
                    raise _undefined_error(value)
                try:
                    out.append(value if isinstance(value, str) else _to_text(value))
                except Undecidable as exc:
                    return Unknown(exc.why, unevaluated=exc.unevaluated)
            return "".join(out)
        value = self.eval(node)
        if isinstance(value, jinja2.Undefined):
            raise _undefined_error(value)
        return value

    def _render(self, text: str) -> Any:
        """A template with statements (``{% if %}``, ``{% for %}``), rendered by Jinja2 itself over the values
        of the names it reads; unknown when its output depends on an unknown."""
        compiled, names = _compiled(text)
        values = {name: self.resolve(name) for name in names}
        try:
            return compiled.render(values)
        except Undecidable as exc:
            return Unknown(exc.why, unevaluated=exc.unevaluated)
        except jinja2.UndefinedError as exc:
            raise TemplateError(str(exc)) from exc
        except Exception as exc:
            raise TemplateError(_message(exc)) from exc

    def truth_of(self, node: nodes.Node) -> bool | None:
        """Three-valued truth of an expression node."""
        if self.assumed:
            key = node_key(node)
            if key in self.assumed:
                return True
            if "not " + key in self.assumed or (isinstance(node, nodes.Not) and node_key(node.node) in self.assumed):
                return False
        if isinstance(node, nodes.Not):
            try:
                inner = self.truth_of(node.node)
            except PartialError as exc:
                raise PartialError(str(exc), None if exc.otherwise is None else not exc.otherwise) from exc
            return None if inner is None else not inner
        if isinstance(node, (nodes.And, nodes.Or)):
            stop = isinstance(node, nodes.Or)  # the left value that decides without the right one
            left = self.truth_of(node.left)
            if left is stop:
                return stop
            try:
                right = self.truth_of(node.right)
            except PartialError as exc:
                if left is None:  # the ways where the left one decides, and the right one's own ways
                    raise PartialError(str(exc), stop if exc.otherwise is stop else None) from exc
                raise
            except TemplateError as exc:
                if left is None:  # the right side is only evaluated where the left one does not decide
                    raise PartialError(str(exc), stop) from exc
                raise
            if right is stop:
                return stop
            return (not stop) if left is (not stop) and right is (not stop) else None
        value = self.eval(node)
        return self._guessed(node_key(node), value, truth(value))

    def _guessed(self, key: str, value: Any, decided: bool | None) -> bool | None:
        """``decided``, or, when that is None because ``value`` is an unevaluated unknown, the truth
        ``decisions`` gives ``key`` (and ``on_guess`` hears of it when there is none)."""
        if decided is None and isinstance(value, Unknown) and value.unevaluated:
            if key in self.decisions:
                return self.decisions[key]
            if self.on_guess is not None:
                self.on_guess(key, value)
        return decided

    def eval(self, node: nodes.Node) -> Any:
        """The value of an expression node: a Python value, an :class:`Unknown` or a StrictUndefined."""
        if isinstance(node, nodes.Not):
            value = self.truth_of(node)
            return Unknown(self._why(node)) if value is None else value
        if isinstance(node, (nodes.And, nodes.Or)):
            left = self.truth_of(node.left)
            if left is None:
                value = self.truth_of(node)
                return Unknown(self._why(node)) if value is None else value
            if left is (isinstance(node, nodes.Or)):
                return self.eval(node.left)
            return self.eval(node.right)
        if isinstance(node, nodes.Const):
            return node.value
        if isinstance(node, nodes.TemplateData):
            return node.data
        if isinstance(node, nodes.Name):
            return self.resolve(node.name)
        if isinstance(node, (nodes.Getattr, nodes.Getitem)):
            return self._item(node)
        if isinstance(node, nodes.List):
            return [self.eval(i) for i in node.items]
        if isinstance(node, nodes.Tuple):
            return tuple(self.eval(i) for i in node.items)
        if isinstance(node, nodes.Dict):
            out: dict[Any, Any] = {}
            for pair in node.items:
                key = self.eval(pair.key)
                if isinstance(key, (Unknown, jinja2.Undefined)):
                    return Unknown(self._why(pair.key))
                out[key] = self.eval(pair.value)
            return out
        if isinstance(node, nodes.CondExpr):
            test = self.truth_of(node.test)
            if test is None:
                return Unknown(self._why(node.test))
            if test:
                return self.eval(node.expr1)
            return self.eval(node.expr2) if node.expr2 is not None else _undefined("the else branch")
        if isinstance(node, nodes.Compare):
            return self._compare(node)
        if isinstance(node, nodes.Filter):
            return self._filter(node)
        if isinstance(node, nodes.Test):
            return self._test(node)
        if isinstance(node, nodes.Concat):
            parts = [self.eval(n) for n in node.nodes]
            return self._apply(lambda *p: "".join(_to_text(x) for x in p), parts)
        if isinstance(node, nodes.Neg):
            return self._apply(operator.neg, [self.eval(node.node)])
        if isinstance(node, nodes.Pos):
            return self._apply(operator.pos, [self.eval(node.node)])
        if type(node) in _BINARY:
            return self._apply(_BINARY[type(node)], [self.eval(node.left), self.eval(node.right)])  # type: ignore[attr-defined]
        if isinstance(node, nodes.Call):
            return self._call(node)
        if isinstance(node, nodes.Slice):
            parts = [self.eval(n) if n is not None else None for n in (node.start, node.stop, node.step)]
            return self._apply(lambda *p: slice(*p), parts)
        return Unknown(f"{type(node).__name__} in a template", unevaluated=True)

    # -- pieces ----------------------------------------------------------------------------------

    @staticmethod
    def _why(node: nodes.Node) -> str:
        found = {n.name for n in node.find_all(nodes.Name)}
        if isinstance(node, nodes.Name):
            found.add(node.name)
        names = sorted(found)
        return ", ".join(repr(n) for n in names) or "a template"

    def _apply(self, function: Callable[..., Any], values: list[Any]) -> Any:
        unknown = derived(values)
        if unknown is not None:
            return unknown
        for value in values:
            if isinstance(value, jinja2.Undefined):
                raise _undefined_error(value)
        try:
            return function(*values)
        except Undecidable as exc:
            return Unknown(exc.why, unevaluated=exc.unevaluated)
        except Exception as exc:
            raise TemplateError(_message(exc)) from exc

    def _item(self, node: nodes.Getattr | nodes.Getitem) -> Any:
        base = self.eval(node.node)
        if isinstance(node, nodes.Getattr):
            key: Any = node.attr
        else:
            key = self.eval(node.arg)
            if isinstance(key, Unknown):
                return key
        if isinstance(base, Unknown):
            return base
        if isinstance(base, jinja2.Undefined):
            if self.lenient_undefined:
                return base  # AnsibleUndefined up to 2.18: an attribute of an undefined is that undefined
            raise _undefined_error(base)
        return _get(base, key, isinstance(node, nodes.Getattr))

    def _compare(self, node: nodes.Compare) -> Any:
        left = self.eval(node.expr)
        result: Any = True
        for operand in node.ops:
            right = self.eval(operand.expr)
            if (operand.op in ("in", "notin") and isinstance(right, Open) and not isinstance(left, Unknown)
                    and not dict.__contains__(right, left) and (left in right.maybe or not (
                        left in right.absent or right.closed))):
                return Unknown(f"whether {left!r} is in {right.why}")
            step = self._apply(_COMPARE[operand.op], [left, right])
            if step is False:
                return False
            if isinstance(step, Unknown):
                result = step
            left = right
        return result

    def _arguments(self, node: nodes.Filter | nodes.Test | nodes.Call) -> tuple[list[Any], dict[str, Any]] | Unknown:
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            return Unknown("*args in a template", unevaluated=True)
        args = [self.eval(a) for a in node.args]
        kwargs = {str(k.key): self.eval(k.value) for k in node.kwargs}  # type: ignore[attr-defined]
        return args, kwargs

    def _filter(self, node: nodes.Filter) -> Any:
        value = self.eval(node.node) if node.node is not None else Unknown("a filter block", unevaluated=True)
        parsed = self._arguments(node)
        if isinstance(parsed, Unknown):
            return parsed
        args, kwargs = parsed
        if node.name in ("default", "d"):
            if isinstance(value, Unknown):
                return value
            boolean = bool(args[1]) if len(args) > 1 else bool(kwargs.get("boolean", False))
            fallback = args[0] if args else kwargs.get("default_value", "")
            if isinstance(value, jinja2.Undefined):
                return fallback
            if boolean:
                known = truth(value)
                return Unknown("a default(..., true)") if known is None else (value if known else fallback)
            return value
        function = self.env.filters.get(node.name)
        if function is None:
            plugin = _lookup_plugin("filter", node.name)
            if plugin is None:
                return Unknown(f"the filter {node.name!r}, which is not installed here", unevaluated=True)
            function = _guarded(plugin, node.name)
        return self._call_plugin(function, value, args, kwargs)  # type: ignore[arg-type]

    def _test(self, node: nodes.Test) -> Any:
        if node.name in ("defined", "undefined"):
            value = self.eval(node.node)
            if isinstance(value, Unknown):
                return value
            defined = not isinstance(value, jinja2.Undefined)
            return defined if node.name == "defined" else not defined
        value = self.eval(node.node)
        parsed = self._arguments(node)
        if isinstance(parsed, Unknown):
            return parsed
        args, kwargs = parsed
        function = self.env.tests.get(node.name)
        if function is None:
            plugin = _lookup_plugin("test", node.name)
            if plugin is None:
                return Unknown(f"the test {node.name!r}, which is not installed here", unevaluated=True)
            function = _guarded(plugin, node.name)
        # up to 2.18 the test itself decides on an undefined value: ``none`` and ``string`` say false, one that
        # reads the value fails the template
        return self._call_plugin(function, value, args, kwargs,  # type: ignore[arg-type]
                                 undefined_ok=self.lenient_undefined)

    def _call_plugin(self, function: Callable[..., Any], value: Any, args: list[Any], kwargs: dict[str, Any],
                     undefined_ok: bool = False) -> Any:
        if isinstance(value, jinja2.Undefined) and not undefined_ok:
            raise _undefined_error(value)
        for arg in (*args, *kwargs.values()):
            if isinstance(arg, jinja2.Undefined):
                raise _undefined_error(arg)
        passes = getattr(function, "jinja_pass_arg", None)
        lead: list[Any] = []
        if passes is not None:
            kind = getattr(passes, "name", str(passes))
            if kind == "context":
                lead = [self.env.context_class(self.env, {}, None, {})]
            elif kind == "eval_context":
                lead = [nodes.EvalContext(self.env)]
            elif kind == "environment":
                lead = [self.env]
        try:
            result = function(*lead, value, *args, **kwargs)
            return _settle(result)
        except Undecidable as exc:
            return Unknown(exc.why, unevaluated=exc.unevaluated)
        except TemplateError:
            raise
        except jinja2.UndefinedError as exc:
            raise TemplateError(_message(exc)) from exc
        except Exception as exc:
            # the plugin's own error may be this machine's (a library the plugin needs): it decides nothing,
            # an unknown, never a failed task
            return Unknown(f"{getattr(function, '__name__', 'a filter')}(), which raised {type(exc).__name__} here",
                           unevaluated=True)

    def _call(self, node: nodes.Call) -> Any:
        if not isinstance(node.node, nodes.Getattr):
            name = node.node.name if isinstance(node.node, nodes.Name) else "a call"
            if name in _LOOKUPS:  # what a lookup reads (a file, the environment, a command) is the run's own
                return Unknown(f"{name}(...) (lookups read what only the run sees)")
            return Unknown(f"{name}(...) (functions are not evaluated)", unevaluated=True)
        base = self.eval(node.node.node)
        method = node.node.attr
        parsed = self._arguments(node)
        if isinstance(parsed, Unknown):
            return parsed
        args, kwargs = parsed
        if isinstance(base, Unknown):
            return base
        if method not in _SAFE_METHODS or not isinstance(base, (str, dict, list)):
            return Unknown(f".{method}() on a value", unevaluated=True)
        if isinstance(base, jinja2.Undefined):
            raise _undefined_error(base)
        return self._apply(lambda *a: getattr(base, method)(*a, **kwargs), args)


def _expression(text: str, what: str) -> nodes.Node:
    """The parsed expression ``text`` (a bare condition or expression); a :class:`TemplateError` when invalid."""
    try:
        return _parse("{{ " + text + " }}")
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{text!r} is not a valid {what}: {exc}") from exc


def node_key(node: nodes.Node) -> str:
    """A parsed expression as a key (its structure, not its spelling): ``a  and b`` and ``a and b`` are one.
    Kept on the node, which the parse cache shares."""
    key = node.__dict__.get("_asyncplay_key")
    if key is None:
        key = "not " + node_key(node.node) if isinstance(node, nodes.Not) else repr(node)
        node.__dict__["_asyncplay_key"] = key
    return key


def _message(exc: BaseException) -> str:
    """An exception's text, never raising (ansible-core's own errors can fail to print outside a play)."""
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:
        return type(exc).__name__


def _settle(value: Any) -> Any:
    """A generator or map a filter returns (``select``, ``map``) read into a list, so unknowns surface now."""
    if isinstance(value, (Iterator, map, filter)) or type(value).__name__ == "generator":
        return list(value)
    return value


def _get(base: Any, key: Any, attribute: bool) -> Any:
    """Jinja2's ``getattr``/``getitem`` on a known value: a known-missing key is undefined."""
    if isinstance(base, Open):
        return base[key]
    if isinstance(base, Mapping):
        if key in base:
            return base[key]
        if attribute and hasattr(dict, str(key)):
            return getattr(base, str(key))
        return _undefined(f"{_describe(base)} has no attribute {key!r}")
    if isinstance(base, (list, tuple, str)):
        if isinstance(key, (int, slice)):
            try:
                return base[key]
            except IndexError:
                return _undefined(f"index {key} out of range")
        if attribute and hasattr(base, str(key)):
            return getattr(base, str(key))
        return _undefined(f"{type(base).__name__} has no attribute {key!r}")
    if attribute and hasattr(base, str(key)):
        return getattr(base, str(key))
    return _undefined(f"{type(base).__name__} object has no attribute {key!r}")


def _describe(base: Mapping[Any, Any]) -> str:
    return "the job's result" if "ansible_job_id" in base else "the mapping"


def _to_text(value: Any) -> str:
    if isinstance(value, Unknown):
        raise Undecidable(value.why, value.unevaluated)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (list, dict, tuple)) and _contains_unknown(value):
        raise Undecidable("a value inside the text")
    return str(value)


def _contains_unknown(value: Any, depth: int = 0) -> bool:
    if isinstance(value, Unknown):
        return True
    if depth > 6:
        return False
    if isinstance(value, dict):
        return any(_contains_unknown(v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains_unknown(v, depth + 1) for v in value)
    return False


def _ansible_bool(value: Any) -> bool | None:
    """Ansible's ``boolean()`` of a rendered value (``'yes'``, ``'True'``, 1...); None when unknown."""
    if isinstance(value, Unknown):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("yes", "on", "1", "true", "t", "y"):
            return True
        if text in ("no", "off", "0", "false", "f", "n", "", "none"):
            return False
        return bool(text)
    return truth(value)
