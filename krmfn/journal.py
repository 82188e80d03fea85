"""Edits of a round-tripped object that remember what they replaced.

Every change the function makes to a workload goes through a `Journal`, which records
the path, the new value and the value it replaced. The record is kept on the workload
(an annotation), so a later run can take back what an earlier run added before applying
the ModelService as it is now: the output then only depends on the ModelService and the
workload as the user wrote it, never on how many times the function ran.

Paths are lists whose parts are mapping keys (str), list indexes (int), or selectors
`[field, value]` naming the element of a list whose `field` equals `value`; the field
`"="` selects the element equal to `value` as a whole.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from krmfn.krm.roundtrip import to_plain, to_ruamel
from krmfn.names import is_secret_name


def fingerprint(value: Any) -> str:
    """A short digest of a value: enough to tell whether it is still the one written,
    without copying every applied value into the record."""
    canonical = json.dumps(to_plain(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


class ShapeError(Exception):
    """A field the function must add to holds another type: a mapping where the API
    wants a list, say. `path` has the list elements as indexes."""

    def __init__(self, path: list[str | int], expected: str, found: Any) -> None:
        kind = "a scalar"
        if isinstance(found, dict):
            kind = "a mapping"
        elif isinstance(found, list):
            kind = "a list"
        self.path = path
        self.message = f"must be {expected}, not {kind}"
        super().__init__(self.message)


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()
# New keys that read best at the top of their mapping, as kubectl and Helm write them.
_FIRST_KEYS = frozenset({"metadata", "replicas"})
Path = list[Any]


def _matches(element: Any, selector: list[Any]) -> bool:
    field, value = selector
    if field == "=":
        return bool(to_plain(element) == value)
    return isinstance(element, dict) and element.get(field) == value


def _find(container: Any, selector: list[Any]) -> int:
    if isinstance(container, list):
        for index, element in enumerate(container):
            if _matches(element, selector):
                return index
    return -1


def _is_credential(root: Any, path: Path) -> bool:
    """Whether the path is, or is inside, an env var named like a credential."""
    for index, part in enumerate(path[:-1]):
        if part == "env":
            entry = get(root, path[: index + 2])
            name = entry.get("name") if isinstance(entry, dict) else None
            return isinstance(name, str) and is_secret_name(name)
    return False


def get(root: Any, path: Path) -> Any:
    current = root
    for part in path:
        if isinstance(part, str):
            if not isinstance(current, dict) or part not in current:
                return ABSENT
            current = current[part]
        elif isinstance(part, int):
            if not isinstance(current, list) or not 0 <= part < len(current):
                return ABSENT
            current = current[part]
        else:
            index = _find(current, part)
            if index < 0:
                return ABSENT
            current = current[index]
    return current


def indexed(root: Any, path: Path) -> list[str | int]:
    """The path with each selector replaced by the index of the element it selects."""
    out: list[str | int] = []
    current = root
    for part in path:
        if isinstance(part, list):
            index = _find(current, part)
            out.append(index)
            current = current[index] if index >= 0 else None
        else:
            out.append(part)
            current = get(current, [part]) if current is not None else None
    return out


def _write(root: Any, path: Path, value: Any) -> None:
    parent = get(root, path[:-1])
    last = path[-1]
    if value is ABSENT:
        if isinstance(last, list):
            index = _find(parent, last)
            if index >= 0:
                del parent[index]
        elif isinstance(parent, dict | list):
            del parent[last]
        return
    new = to_ruamel(value)
    if isinstance(last, str) and last in _FIRST_KEYS and last not in parent:
        parent.insert(0, last, new)
        return
    if isinstance(last, list):
        index = _find(parent, last)
        if index >= 0:
            parent[index] = new
        else:
            parent.append(new)
    else:
        parent[last] = new


class Journal:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.ops: list[dict[str, Any]] = []

    def get(self, path: Path) -> Any:
        return get(self.root, path)

    def set(self, path: Path, value: Any) -> None:
        """Set a value; no-op (and no record) if it is already there."""
        current = get(self.root, path)
        plain = to_plain(value)
        prior = ABSENT if current is ABSENT else to_plain(current)
        if prior == plain:
            return
        op: dict[str, Any] = {"op": "set", "path": path, "hash": fingerprint(plain)}
        if prior is not ABSENT and _is_credential(self.root, path):
            # The record is written into the manifest: a literal credential replaced
            # (by a Secret reference) must not be copied there. Taking it back then
            # removes the variable instead of restoring the literal.
            op["redacted"] = True
        elif prior is not ABSENT:
            op["prior"] = prior
        self.ops.append(op)
        _write(self.root, path, plain)

    def ensure(self, path: Path, empty: dict[str, Any] | list[Any]) -> None:
        """Make sure a mapping or list is there to add to (an explicit null counts as none)."""
        current = get(self.root, path)
        if current is ABSENT or current is None:
            self.set(path, empty)
        elif not isinstance(current, type(empty)):
            expected = "a list" if isinstance(empty, list) else "a mapping"
            raise ShapeError(indexed(self.root, path), expected, current)

    def prefix(self, path: Path, values: list[Any]) -> None:
        """Put values in front of a list (ModelService args go before the workload's own)."""
        if not values:
            return
        self.ensure(path, [])
        target = get(self.root, path)
        for index, value in enumerate(values):
            target.insert(index, to_ruamel(value))
        self.ops.append(
            {"op": "prefix", "path": path, "count": len(values), "hash": fingerprint(values)}
        )


def undo(root: Any, ops: list[dict[str, Any]]) -> None:
    """Take back recorded ops, newest first; a value a user changed since stays as it is."""
    for op in reversed(ops):
        path, digest = op["path"], op["hash"]
        current = get(root, path)
        if op["op"] == "prefix":
            count = int(op["count"])
            if isinstance(current, list) and fingerprint(current[:count]) == digest:
                for _ in range(count):
                    del current[0]
        elif current is not ABSENT and fingerprint(current) == digest:
            _write(root, path, op.get("prior", ABSENT))
