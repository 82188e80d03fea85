"""Field paths inside an object, and their kyaml-style text.

A path is a tuple of parts: a mapping key (str), a list index (int), or a `Match`, the
element of a list whose `field` is `value` (with no field: the element equal to `value`).
As text: `spec.template.spec.containers[name=vllm].env[name=HF_HOME]`,
`metadata.labels.[llm-d.ai/role]` (a key holding `.` or `[` goes in brackets),
`spec.containers[0].args`, `envFrom[={"configMapRef":{"name":"c"}}]` (JSON for a whole
element).
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

_PLAIN_KEY = re.compile(r"[^.\[\]=]+")
_JSON = json.JSONDecoder()


class Match(NamedTuple):
    """The element of a list whose `field` equals `value`; the whole element if no field."""

    field: str
    value: Any


Part = str | int | Match
Path = tuple[Part, ...]


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, Match):
            value = part.value if part.field else json.dumps(part.value, separators=(",", ":"))
            out += f"[{part.field}={value}]"
        elif isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        elif "]" not in part:
            out += f".[{part}]" if out else f"[{part}]"
        else:
            raise ValueError(f"the key {part!r} cannot be written in a field path")
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


def _bracket(text: str, at: int, selects: bool) -> tuple[Part, int]:
    """One `[...]` whose content starts at `at`: after a key or `]` it selects an element
    of a list, after a `.` (or first) it is a key with dots in it."""
    if not selects:
        end = text.index("]", at)
        return text[at:end], end + 1
    if text.startswith("=", at):
        value, end = _JSON.raw_decode(text, at + 1)
        if not text.startswith("]", end):
            raise ValueError(f"{text!r} is not a field path (at character {end + 1})")
        return Match("", value), end + 1
    end = text.index("]", at)
    content = text[at:end]
    field, eq, value = content.partition("=")
    if eq:
        return Match(field, value), end + 1
    if not content.isdigit():
        raise ValueError(f"{text!r} is not a field path (at character {at + 1})")
    return int(content), end + 1
