"""The record of what the function did to a workload: the annotation
`krmfn.llm-d.ai/applied`, read before a run takes it back and written after it applies.

It is text a person can read in a diff, one op a line (docs/record.md):

    v2 llm-d/opt decode
    merge metadata.labels llm-d.ai/model,llm-d.ai/role 5f1a2b ^1
    add spec.template.spec.volumes[name=model-storage] 43d2e2 ^1
    set spec.replicas d4735e 1
    prefix spec.template.spec.containers[name=vllm].args 1b2c3d 2

Records of version 1 (one line of JSON) are still read, and taken back like new ones.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from krmfn.journal import REDACTED, Kind, Op
from krmfn.krm.errors import FieldError
from krmfn.paths import Match, Part, format_path, parse_path

ANNOTATION = "krmfn.llm-d.ai/applied"
FIELD = f"metadata.annotations.[{ANNOTATION}]"
VERSION = "v2"
# In the header: the function created `metadata.annotations` to hold the record.
NEW_ANNOTATIONS = "+annotations"


class Record(NamedTuple):
    by: str  # the ModelService, `namespace/name` (or `name`)
    roles: tuple[str, ...]
    ops: list[Op]
    new_annotations: bool = False


def _word(text: str) -> str:
    """Text as one word of a line: as it is, or a JSON string without white space when it
    holds white space, a comma or starts with a quote or a bracket."""
    if text and not re.search(r'[\s,\x00-\x1f\x7f-\x9f\u2028\u2029]|^["\[]', text):
        return text
    return json.dumps(text, ensure_ascii=True).replace(" ", "\\u0020")


def _unword(text: str) -> str:
    value = json.loads(text) if text.startswith('"') else text
    if not isinstance(value, str):
        raise ValueError(text)
    return value


def _keys(keys: tuple[str, ...]) -> str:
    if all(_word(k) == k for k in keys):
        return ",".join(keys)
    return json.dumps(list(keys), separators=(",", ":"), ensure_ascii=True).replace(" ", "\\u0020")


def _unkeys(text: str) -> tuple[str, ...]:
    if not text.startswith("["):
        return tuple(text.split(","))
    keys = json.loads(text)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ValueError(text)
    return tuple(keys)


def write(record: Record) -> str:
    header = [VERSION, _word(record.by), ",".join(record.roles)]
    if record.new_annotations:
        header.append(NEW_ANNOTATIONS)
    return "\n".join([" ".join(header), *(_line(op) for op in record.ops)])


def block(text: str) -> Any:
    """The record as the annotation's value: a literal block, one op a line."""
    from ruamel.yaml.scalarstring import LiteralScalarString

    return LiteralScalarString(text)


def _line(op: Op) -> str:
    words = [op.kind.value, format_path(op.path), op.digest]
    if op.kind is Kind.MERGE:
        words.insert(2, _keys(op.prior))
    if op.kind is Kind.PREFIX:
        words.append(str(op.elements))
    if op.created:
        words.append(f"^{op.created}")
    if op.kind is Kind.SET:
        words.append("*" if op.prior is REDACTED else json.dumps(op.prior, separators=(",", ":")))
    return " ".join(words)


def _unreadable() -> FieldError:
    return FieldError(
        f"annotation {ANNOTATION} is not a record this version wrote;"
        " restore the workload from its source or delete the annotation",
        FIELD,
    )


def read(text: str) -> Record:
    """The record an earlier run wrote, of either version. Raises FieldError."""
    try:
        if text.lstrip().startswith("{"):
            return _read_v1(json.loads(text))
        header, *lines = text.strip().split("\n")
        version, by, roles, *flags = header.split(" ")
        if version != VERSION or any(f != NEW_ANNOTATIONS for f in flags):
            raise ValueError(version)
        ops = [_op(line) for line in lines]
        return Record(_unword(by), tuple(roles.split(",")), ops, NEW_ANNOTATIONS in flags)
    except (ValueError, KeyError, TypeError, IndexError):
        raise _unreadable() from None


def _op(line: str) -> Op:
    kind_word, path_text, rest = line.split(" ", 2)
    kind, path = Kind(kind_word), parse_path(path_text)
    if kind is Kind.MERGE:
        keys, _, rest = rest.partition(" ")
        digest, _, rest = rest.partition(" ")
        return Op(kind, path, _digest(digest), _unkeys(keys), created=_created(rest))
    digest, _, rest = rest.partition(" ")
    digest = _digest(digest)
    if kind is Kind.SET:
        return Op(kind, path, digest, REDACTED if rest == "*" else json.loads(rest))
    if kind is Kind.PREFIX:
        elements, _, rest = rest.partition(" ")
        return Op(kind, path, digest, elements=int(elements), created=_created(rest))
    return Op(kind, path, digest, created=_created(rest))


def _digest(text: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{6,64}", text):
        raise ValueError(text)
    return text


def _created(text: str) -> int:
    """`^n`: the op created the n innermost collections around its value."""
    text = text.strip()
    if not text:
        return 0
    if not text.startswith("^"):
        raise ValueError(text)
    return int(text[1:])


def _read_v1(record: dict[str, Any]) -> Record:
    """Version 1: {"v":1,"by":..,"role":..,"ops":[{"op","path","hash","prior"|"redacted"
    |"count"}]}, paths as lists with [field, value] selectors ("=": the whole element).
    Its ops that created an empty list or map are ADD ops like any other."""
    if record.get("v") != 1 or not isinstance(record["ops"], list):
        raise ValueError("v1")
    ops = []
    for raw in record["ops"]:
        path = tuple(_v1_part(p) for p in raw["path"])
        digest = str(raw["hash"])
        if raw["op"] == "prefix":
            ops.append(Op(Kind.PREFIX, path, digest, elements=int(raw["count"])))
        elif raw.get("redacted"):
            ops.append(Op(Kind.SET, path, digest, REDACTED))
        elif "prior" in raw:
            ops.append(Op(Kind.SET, path, digest, raw["prior"]))
        elif raw["op"] == "set":
            ops.append(Op(Kind.ADD, path, digest))
        else:
            raise ValueError(raw["op"])
    roles = tuple(str(record.get("role", "")).split(","))
    return Record(str(record.get("by", "")), roles, ops)


def _v1_part(part: Any) -> Part:
    if isinstance(part, list):
        field, value = part
        return Match("" if field == "=" else str(field), value)
    if isinstance(part, str | int):
        return part
    raise TypeError(part)
