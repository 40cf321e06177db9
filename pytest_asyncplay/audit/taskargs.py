"""Reading one task as Ansible would: its module and arguments (``k=v`` or a mapping), its
conditions, and the numbers in ``async:``/``poll:``, including simple templates.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, Literal

__all__ = [
    "IMPORT_PLAYBOOK",
    "INCLUDE_ROLE",
    "INCLUDE_TASKS",
    "action_of",
    "conditions",
    "int_or_raw",
    "names",
    "never_true",
    "short_action",
    "templated",
]

BUILTIN_PREFIXES = ("ansible.builtin.", "ansible.legacy.")
INCLUDE_TASKS = frozenset({"import_tasks", "include_tasks", "include"})
INCLUDE_ROLE = frozenset({"import_role", "include_role"})
IMPORT_PLAYBOOK = "import_playbook"
_FREE_FORM = frozenset({"command", "shell", "raw", "script", "win_command", "win_shell"})
_TASK_KEYWORDS = frozenset(
    {
        "action", "any_errors_fatal", "args", "async", "become", "become_exe", "become_flags",
        "become_method", "become_user", "changed_when", "check_mode", "collections", "connection",
        "debugger", "delay", "delegate_facts", "delegate_to", "diff", "environment", "failed_when",
        "ignore_errors", "ignore_unreachable", "listen", "local_action", "loop", "loop_control",
        "module_defaults", "name", "no_log", "notify", "poll", "port", "register", "remote_user",
        "retries", "run_once", "tags", "throttle", "timeout", "until", "vars", "when",
    }
)  # fmt: skip
_KV_KEY = re.compile(r"^[A-Za-z_]\w*$")
_FALSE_WORDS = frozenset({"false", "no", "off"})


@functools.lru_cache(maxsize=4096)
def short_action(action: str) -> str:
    """The module name without an ``ansible.builtin.`` / ``ansible.legacy.`` prefix."""
    for prefix in BUILTIN_PREFIXES:
        if action.startswith(prefix):
            return action[len(prefix) :]
    return action


TAKES_HOST_DOWN = re.compile(
    r"(?<![\w.-])(reboot|shutdown|poweroff|halt)(?![\w.-])|\bsystemctl\s+(reboot|poweroff|halt|kexec)\b"
    r"|(?<![\w.-])init\s+[06]\b")
"""A command that reboots or shuts the host down (``reboot``, ``shutdown -r``, ``systemctl reboot``...)."""
COMMAND_MODULES = frozenset({"shell", "command", "raw", "script"})


def takes_host_down(action: str, args: Mapping[str, Any]) -> bool:
    """Whether a ``shell``/``command``/``raw`` task's literal command takes its host down: the job file of a
    fire-and-forget reboot goes down with the host, so no ``async_status`` can reap it."""
    if short_action(action) not in COMMAND_MODULES or not isinstance(args, Mapping):
        return False
    text = " ".join(str(args[k]) for k in ("_raw_params", "cmd", "argv") if args.get(k) is not None)
    return bool(TAKES_HOST_DOWN.search(text))


_RUNS_BASE_ACTION = re.compile(r"super\([^)]*\)\.run\(|ActionBase\.run\(")


@functools.cache
def async_support(action: str) -> Literal["job", "refused", "ignored"]:
    """What the installed ansible-core does with ``async:`` on ``action``, read off its action plugin:

    - ``job``: the module runs as a job (no action plugin of its own, so the normal action runs it; or a plugin
      that takes async and wraps its module, such as ``command``; or one that hands the work to such a plugin,
      as ``shell`` does to ``command``); also when the plugin cannot be found here;
    - ``refused``: the plugin does not take async and runs the base action's checks, which fail the task on
      every run before any job starts ("This action (copy) does not support async.");
    - ``ignored``: the plugin takes async but runs its work itself, in the task, without a job (``reboot`` on
      ansible-core 2.15).

    ansible-core's own actions are read from its package; a collection's through the plugin loader."""
    import importlib
    import inspect

    namespace, _, name = action.rpartition(".")
    try:
        if namespace in ("", "ansible.builtin", "ansible.legacy"):
            try:
                cls = importlib.import_module(f"ansible.plugins.action.{name}").ActionModule
            except ImportError:
                return "job"  # no action plugin: the normal action runs the module
        else:
            from pytest_asyncplay.audit.symbolic import plugins

            plugins()  # the plugin loader, set up once (collections included)
            from ansible.plugins import loader

            cls = loader.action_loader.get(action, class_only=True)
            if cls is None:
                return "job"
        source = inspect.getsource(inspect.getmodule(cls))  # type: ignore[arg-type]
    except Exception:
        return "job"
    # ActionBase says no (a class attribute from 2.16, set in __init__ before); a plugin that takes async says so
    # itself, as a class attribute or in its run(); one that runs the base action's run() gets its checks
    if "_supports_async = True" in source:
        return "job" if "wrap_async" in source else "ignored"
    return "refused" if _RUNS_BASE_ACTION.search(source) is not None else "job"


def templated(value: object) -> bool:
    """Whether ``value`` is a string holding a Jinja expression or statement."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def never_true(condition: object) -> bool:
    """Whether a ``when:`` condition is literally false (``false``, ``no``, ``"{{ false }}"``...)."""
    if condition is False:
        return True
    if isinstance(condition, str):
        return condition.strip().strip("{} ").lower() in _FALSE_WORDS
    return False


def int_or_raw(value: object) -> int | str | None:
    """An int for a literal number (``"30"`` too), the text for anything else, None when absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def conditions(value: object) -> tuple[str, ...]:
    """The conditions of a ``when:`` (a string or a list), literal ``true`` dropped."""
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        if item is None or item is True:
            continue
        if isinstance(item, str) and item.strip().strip("{} ").lower() in ("true", ""):
            continue
        out.append(str(item))
    return tuple(out)


def names(value: object) -> tuple[str, ...]:
    """``notify:``/``listen:`` as a tuple of names."""
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return (str(value),)


def _split_args(text: str) -> list[str]:
    """Split ``k=v`` style arguments on whitespace outside quotes and ``{{ }}`` / ``{% %}``."""
    tokens: list[str] = []
    buf: list[str] = []
    quote = ""
    depth = 0
    i = 0
    while i < len(text):
        char = text[i]
        pair = text[i : i + 2]
        if quote:
            buf.append(char)
            if char == quote and text[i - 1] != "\\":
                quote = ""
        elif pair in ("{{", "{%", "{#"):
            depth += 1
            buf.append(pair)
            i += 2
            continue
        elif pair in ("}}", "%}", "#}") and depth:
            depth -= 1
            buf.append(pair)
            i += 2
            continue
        elif char in "'\"":
            quote = char
            buf.append(char)
        elif char.isspace() and depth == 0:
            if buf:
                tokens.append("".join(buf))
                buf = []
        else:
            buf.append(char)
        i += 1
    if buf:
        tokens.append("".join(buf))
    return tokens


def parse_args(module: str, text: str) -> dict[str, Any]:
    """``k=v`` arguments as a dict; a free-form module's text as ``_raw_params``."""
    if short_action(module) in _FREE_FORM:
        return {"_raw_params": text}
    args: dict[str, Any] = {}
    rest: list[str] = []
    for token in _split_args(text):
        key, sep, value = token.partition("=")
        if sep and _KV_KEY.match(key):
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            args[key] = value
        else:
            rest.append(token)
    if rest:
        args["_raw_params"] = " ".join(rest)
    return args


def action_of(item: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The module key of a task mapping and its arguments as a dict."""
    module: str | None = None
    args: dict[str, Any] = {}
    if "action" in item or "local_action" in item:
        value = item.get("action", item.get("local_action"))
        if isinstance(value, dict):
            args = dict(value)
            raw = args.pop("module", None)
            module = str(raw) if raw is not None else None
        elif isinstance(value, str) and value.strip():
            module, _, rest = value.strip().partition(" ")
            args = parse_args(module, rest.strip())
    else:
        for key, value in item.items():
            key = str(key)
            if key in _TASK_KEYWORDS or key.startswith("with_") or key in ("block", "rescue", "always"):
                continue
            module = key
            if isinstance(value, dict):
                args = dict(value)
            elif value is not None:
                args = parse_args(key, str(value))
            break
    extra = item.get("args")
    if isinstance(extra, dict):
        args.update(extra)
    return module, args


# --------------------------------------------------------------------------------------------------
# Simple templates in async:/poll:

#: Stands for Ansible's ``omit``: the keyword takes its default (``poll`` 10, ``async`` 0).
OMIT = "omit"
#: Stands for "some value the lint cannot know" in a set of possible values.
UNKNOWN = "<unknown>"
_WRAPPED = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
_FILTER = re.compile(r"([A-Za-z_][\w.]*)\s*(?:\((.*)\))?", re.S)
_CONDITIONAL = re.compile(r"(.+?)\s+if\s+.+?\s+else\s+(.+)", re.S)
_NAME = re.compile(r"[A-Za-z_]\w*")
_NO_CHANGE_FILTERS = frozenset({"int", "string", "trim", "float"})


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quotes and brackets."""
    parts: list[str] = []
    buf: list[str] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == sep and depth == 0:
            parts.append("".join(buf))
            buf = []
            continue
        buf.append(char)
    parts.append("".join(buf))
    return [p.strip() for p in parts]


def possible_values(value: object, variables: Mapping[str, Any], depth: int = 0) -> set[Any]:
    """The values a keyword such as ``poll:`` can take, as far as the repo's own text tells.

    A literal gives itself; ``{{ var }}`` the values the repo gives ``var`` (role defaults and vars,
    play vars, ``group_vars``...); ``| default(x)``, ``| ternary(a, b)`` and ``a if c else b`` every
    branch. What cannot be known adds :data:`UNKNOWN`; ``omit`` gives :data:`OMIT`.
    """
    if depth > 6:
        return {UNKNOWN}
    if not templated(value):
        return {int_or_raw(value)}
    match = _WRAPPED.fullmatch(str(value).strip())
    if match is None:
        return {UNKNOWN}
    return _expression(match.group(1), variables, depth)


def _expression(text: str, variables: Mapping[str, Any], depth: int) -> set[Any]:
    text = text.strip()
    while text.startswith("(") and text.endswith(")") and len(_split_top(text[1:-1], ",")) == 1:
        text = text[1:-1].strip()
    conditional = _CONDITIONAL.fullmatch(text)
    if conditional is not None and "|" not in conditional.group(1):
        return _expression(conditional.group(1), variables, depth) | _expression(conditional.group(2), variables, depth)
    head, *filters = _split_top(text, "|")
    values = _atom(head, variables, depth)
    for spec in filters:
        match = _FILTER.fullmatch(spec)
        if match is None:
            return {UNKNOWN}
        name, args = match.group(1), _split_top(match.group(2) or "", ",")
        if name in _NO_CHANGE_FILTERS:
            continue
        if name in ("default", "d") and args and args[0]:
            defined = values - {UNKNOWN}
            values = defined | _atom(args[0], variables, depth) if UNKNOWN in values or not defined else defined
        elif name == "ternary" and len(args) >= 2:
            values = set().union(*(_atom(a, variables, depth) for a in args[:3] if a))
        else:
            return {UNKNOWN}
    return values


def _atom(text: str, variables: Mapping[str, Any], depth: int) -> set[Any]:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return {int_or_raw(text[1:-1])}
    if re.fullmatch(r"-?\d+", text):
        return {int(text)}
    if text == OMIT:
        return {OMIT}
    if text.lower() in ("true", "false", "none"):
        return {text.lower()}
    if _NAME.fullmatch(text) and text in variables:
        found: set[Any] = set()
        for definition in variables[text]:
            found |= possible_values(definition, variables, depth + 1)
        return found
    if text.startswith("(") and text.endswith(")"):
        return _expression(text[1:-1], variables, depth + 1)
    return {UNKNOWN}
