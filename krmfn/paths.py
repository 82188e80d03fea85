"""Field paths inside an object, and their kyaml-style text.

A path is a tuple of parts: a mapping key (str), a list index (int), or a `Match`, the
element of a list whose `field` is `value` (with no field: the element equal to `value`).
As text: `spec.template.spec.containers[name=vllm].env[name=HF_HOME]`,
`metadata.labels.[llm-d.ai/role]` (a key holding `.` or `[` goes in brackets),
`spec.containers[0].args`, `envFrom[={"configMapRef":{"name":"c"}}]` (JSON for a whole
element). A key or a value that holds `]`, a quote, white space or a control character is
written as a JSON string (`.["a]"]`, `env[name="OPTS[0]"]`), with white space escaped too,
so that a path is always one word of a record line and reads back as it was.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

_PLAIN_KEY = re.compile(r"[^.\[\]=]+")
_BRACKETED = re.compile(r'[^\]"\s\x00-\x1f\x7f-\x9f\u2028\u2029]+')
_JSON = json.JSONDecoder()


class Match(NamedTuple):
    """The element of a list whose `field` equals `value`; the whole element if no field."""

    field: str
    value: Any


Part = str | int | Match
Path = tuple[Part, ...]


def _json(value: Any) -> str:
    """JSON without white space outside or inside its strings."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    return text.replace(" ", "\\u0020")


def _bracketed(text: str) -> str:
    """Text as it goes between brackets: as it is where it can be, else a JSON string."""
    if _BRACKETED.fullmatch(text) and not text.startswith("="):
        return text
    return _json(text)


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, Match):
            if part.field:
                out += f"[{_bracketed(part.field)}={_bracketed(str(part.value))}]"
            else:
                out += f"[={_json(part.value)}]"
        elif isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part) and _BRACKETED.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f".[{_bracketed(part)}]" if out else f"[{_bracketed(part)}]"
    return out


def parse_path(text: str) -> Path:
    """The path `format_path` wrote; raises ValueError for anything else."""
    parts: list[Part] = []
    at = 0
    while at < len(text):
        if text.startswith(".", at) and parts:
            at += 1
        if text.startswith("[", at):
            part, at = _bracket(text, at + 1, bool(parts) and text[at - 1] != ".")
            parts.append(part)
            continue
        key = _PLAIN_KEY.match(text, at)
        if key is None:
            raise ValueError(f"{text!r} is not a field path (at character {at + 1})")
        parts.append(key.group())
        at = key.end()
    return tuple(parts)


def _text(text: str, at: int, stops: str) -> tuple[str, int]:
    """Bracketed text from `at`: a JSON string, or the characters up to one of `stops`."""
    if text.startswith('"', at):
        value, end = _JSON.raw_decode(text, at)
        if not isinstance(value, str):
            raise ValueError(f"{text!r} is not a field path (at character {at + 1})")
        return value, end
    ends = [i for i in (text.find(c, at) for c in stops) if i >= 0]
    if not ends:
        raise ValueError(f"{text!r} is not a field path (at character {at + 1})")
    return text[at : min(ends)], min(ends)


def _closed(text: str, at: int) -> int:
    if not text.startswith("]", at):
        raise ValueError(f"{text!r} is not a field path (at character {at + 1})")
    return at + 1


def _bracket(text: str, at: int, selects: bool) -> tuple[Part, int]:
    """One `[...]` whose content starts at `at`: after a key or `]` it selects an element
    of a list, after a `.` (or first) it is a key with dots in it."""
    if not selects:
        key, end = _text(text, at, "]")
        return key, _closed(text, end)
    if text.startswith("=", at):
        value, end = _JSON.raw_decode(text, at + 1)
        return Match("", value), _closed(text, end)
    field, end = _text(text, at, "=]")
    if text.startswith("=", end):
        value, end = _text(text, end + 1, "]")
        return Match(field, value), _closed(text, end)
    if not field.isdigit() or text.startswith('"', at):
        raise ValueError(f"{text!r} is not a field path (at character {at + 1})")
    return int(field), _closed(text, end)
