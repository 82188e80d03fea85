"""Edits of a round-tripped object that remember what they did.

Every change the function makes to a workload goes through a `Journal`, which keeps one
`Op` per change: the path, a digest of the value written, and what it replaced. The ops
are kept on the workload (see `krmfn.record`), so a later run can take back what an
earlier run did before applying the ModelService as it is now: the output then only
depends on the ModelService and the workload as the user wrote it, never on how many
times the function ran.

A mapping or list the function had to create to hold its edits gets no op of its own: the
first op inside it counts it (`created`), and taking that op back removes the collection
again if nothing else is left in it.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any, NamedTuple

from krmfn.krm.errors import FieldError
from krmfn.krm.roundtrip import commented_map, to_plain, to_ruamel
from krmfn.names import is_secret_name
from krmfn.paths import Match, Part, Path, format_path

# Enough to tell whether a value is still the one written (a user who changed it to
# another value with the same digest is one in sixteen million), short in the record.
DIGEST_LENGTH = 6


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


class _Redacted:
    def __repr__(self) -> str:
        return "REDACTED"


ABSENT: Any = _Absent()
_DICT_GET: Any = dict.get
_LIST_ITER: Any = list.__iter__
REDACTED: Any = _Redacted()
# New keys that read best at the top of their mapping, as kubectl and Helm write them.
_FIRST_KEYS = frozenset({"metadata", "replicas"})


class Kind(StrEnum):
    ADD = "add"  # the value was absent: taking it back removes it
    SET = "set"  # the value replaced `prior`: taking it back restores it
    PREFIX = "prefix"  # `elements` elements put in front of a list
    MERGE = "merge"  # keys added to a mapping (`prior`: their names): labels


class Op(NamedTuple):
    kind: Kind
    path: Path
    digest: str
    prior: Any = ABSENT  # SET: the value replaced, or REDACTED; MERGE: the keys added
    elements: int = 0  # PREFIX: how many elements
    created: int = 0  # how many collections around the value the function created


def fingerprint(value: Any, length: int = DIGEST_LENGTH) -> str:
    """A short digest of a value: enough to tell whether it is still the one written,
    without copying every applied value into the record."""
    canonical = json.dumps(to_plain(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:length]


def _matches(element: Any, selector: Match) -> bool:
    if not selector.field:
        return bool(to_plain(element) == selector.value)
    if type(element) is commented_map():
        # A key it holds read straight from the dict; CommentedMap.get for one it does
        # not (which looks in merged mappings).
        value = _DICT_GET(element, selector.field, ABSENT)
        if value is ABSENT:
            value = element.get(selector.field)
        return bool(value == selector.value)
    return isinstance(element, dict) and element.get(selector.field) == selector.value


def _find(container: Any, selector: Match) -> int:
    if isinstance(container, list):
        # The list's own elements (a CommentedSeq iterates them one __getitem__ at a time).
        for index, element in enumerate(_LIST_ITER(container)):
            if _matches(element, selector):
                return index
    return -1


def _step(current: Any, part: Part) -> Any:
    if type(part) is str and type(current) is commented_map():
        # What `part in current and current[part]` gives a CommentedMap: its own key
        # (the merge lookup of its __getitem__ is only for keys it does not hold).
        return _DICT_GET(current, part, ABSENT)
    if isinstance(part, Match):
        index = _find(current, part)
        return current[index] if index >= 0 else ABSENT
    if isinstance(part, int):
        if isinstance(current, list) and 0 <= part < len(current):
            return current[part]
        return ABSENT
    if isinstance(current, dict) and part in current:
        return current[part]
    return ABSENT


def get(root: Any, path: Path) -> Any:
    current = root
    mapping = commented_map()
    for part in path:
        if type(part) is str and type(current) is mapping:
            current = _DICT_GET(current, part, ABSENT)  # as in _step
        else:
            current = _step(current, part)
        if current is ABSENT:
            return ABSENT
    return current


def indexed(root: Any, path: Path) -> Path:
    """The path with each selector replaced by the index of the element it selects."""
    out: list[Part] = []
    current = root
    for part in path:
        if isinstance(part, Match):
            index = _find(current, part)
            out.append(index)
            current = current[index] if index >= 0 else None
        else:
            out.append(part)
            current = get(current, (part,)) if current is not None else None
    return tuple(out)


def _is_credential(root: Any, path: Path) -> bool:
    """Whether the path is, or is inside, an env var named like a credential."""
    for index, part in enumerate(path[:-1]):
        if part == "env":
            entry = get(root, path[: index + 2])
            name = entry.get("name") if isinstance(entry, dict) else None
            return isinstance(name, str) and is_secret_name(name)
    return False


def _write(root: Any, path: Path, value: Any) -> None:
    parent = get(root, path[:-1])
    last = path[-1]
    if value is ABSENT:
        if isinstance(last, Match):
            index = _find(parent, last)
            if index >= 0:
                del parent[index]
        elif isinstance(parent, dict) or isinstance(last, int):
            del parent[last]
        return
    new = to_ruamel(value)
    if isinstance(last, str) and last in _FIRST_KEYS and last not in parent:
        parent.insert(0, last, new)
        return
    if isinstance(last, Match):
        index = _find(parent, last)
        if index >= 0:
            parent[index] = new
        else:
            parent.append(new)
    else:
        parent[last] = new


def _kind_name(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    return "a list" if isinstance(value, list) else "a scalar"


class Journal:
    def __init__(self, root: Any, name: str = "", redacted: dict[str, int] | None = None) -> None:
        self.root = root
        self.name = name  # of the object, for messages
        self.ops: list[Op] = []
        # Collections created for edits and not yet counted by an op inside them.
        self._created: list[Path] = []
        # Credentials an earlier run replaced and the take-back could only remove (their
        # literal was never recorded), by path, with the index each had in its list: set again,
        # they go back there and are recorded as before, so a rerun changes nothing.
        self._redacted = dict(redacted or {})

    def get(self, path: Path) -> Any:
        return get(self.root, path)

    def _claim(self, container: Path) -> int:
        """How many of `container` and its parents, innermost first, were created and not
        yet counted: the op being recorded counts them."""
        count = 0
        while container in self._created:
            self._created.remove(container)
            count += 1
            container = container[:-1]
        return count

    def set(self, path: Path, value: Any) -> None:
        """Set a value; no-op (and no record) if it is already there."""
        self._one_match(path)
        current = get(self.root, path)
        plain = to_plain(value)
        prior = ABSENT if current is ABSENT else to_plain(current)
        if prior == plain:
            return
        digest = fingerprint(plain)
        if prior is ABSENT and self._redacted and format_path(path) in self._redacted:
            index = self._redacted.pop(format_path(path))
            get(self.root, path[:-1]).insert(index, to_ruamel(plain))
            self.ops.append(Op(Kind.SET, path, digest, REDACTED))
            return
        if prior is ABSENT:
            self.ops.append(Op(Kind.ADD, path, digest, created=self._claim(path[:-1])))
        elif _is_credential(self.root, path):
            # The record is written into the manifest: a literal credential replaced
            # (by a Secret reference) must not be copied there. Taking it back then
            # removes the variable instead of restoring the literal.
            self.ops.append(Op(Kind.SET, path, digest, REDACTED))
        else:
            self.ops.append(Op(Kind.SET, path, digest, prior))
        _write(self.root, path, plain)

    def _one_match(self, path: Path) -> None:
        """A list entry to set by a key must be the only one with it: with two, the next
        run could not tell which one it set (and the kubelet takes the last env var)."""
        last = path[-1]
        if not isinstance(last, Match) or not last.field:
            return
        listed = get(self.root, path[:-1])
        if not isinstance(listed, list):
            return
        count = sum(1 for element in _LIST_ITER(listed) if _matches(element, last))
        if count > 1:
            where = format_path(indexed(self.root, path[:-1]))
            message = (
                f"{where} holds {count} entries with {last.field} {last.value}; krmfn"
                " cannot tell which one to set: keep one"
            )
            raise FieldError(f"{self.name}: {message}" if self.name else message, where)

    def ensure(self, path: Path, empty: dict[str, Any] | list[Any]) -> None:
        """Make sure a mapping or list is there to add to. An absent one is created and
        counted by the first op inside it; an explicit null is replaced (and recorded)."""
        current = get(self.root, path)
        if current is ABSENT:
            _write(self.root, path, empty)
            self._created.append(path)
        elif current is None:
            self.set(path, empty)
        elif not isinstance(current, type(empty)):
            expected = "a list" if isinstance(empty, list) else "a mapping"
            where = format_path(indexed(self.root, path))
            message = f"{where} must be {expected}, not {_kind_name(current)}"
            raise FieldError(f"{self.name}: {message}" if self.name else message, where)

    def prefix(self, path: Path, values: list[Any]) -> None:
        """Put values in front of a list (ModelService args go before the workload's own)."""
        if not values:
            return
        self.ensure(path, [])
        target = get(self.root, path)
        for index, value in enumerate(values):
            target.insert(index, to_ruamel(value))
        digest, created = fingerprint(values), self._claim(path)
        self.ops.append(Op(Kind.PREFIX, path, digest, elements=len(values), created=created))

    def merge(self, path: Path, entries: dict[str, str]) -> None:
        """Add the keys a mapping does not have; a key it has keeps its value. One op
        records the keys added and a digest of their values."""
        self.ensure(path, {})
        mapping = get(self.root, path)
        added = {key: value for key, value in entries.items() if key not in mapping}
        if not added:
            return
        for key, value in added.items():
            mapping[key] = to_ruamel(value)
        digest, created = fingerprint(added), self._claim(path)
        self.ops.append(Op(Kind.MERGE, path, digest, tuple(added), created=created))

    def unclaimed(self) -> list[Path]:
        """Collections created for edits that no op counts (none, as the edits go)."""
        return list(self._created)


def _same(value: Any, digest: str) -> bool:
    return fingerprint(value, len(digest)) == digest


def _there(value: Any, digest: str) -> bool:
    return value is not ABSENT and _same(value, digest)


def _prune(root: Any, container: Path, created: int) -> None:
    """Remove the collections an op created, innermost first, while they are empty."""
    for _ in range(created):
        if get(root, container) not in ({}, []):
            return
        _write(root, container, ABSENT)
        container = container[:-1]


def _names_mount(path: Path) -> bool:
    return len(path) >= 2 and path[-2] == "volumeMounts" and isinstance(path[-1], Match)


def _volume_of(path: Path, mount: Any) -> Any:
    """The volume a recorded mount (found as `mount`, or ABSENT) names."""
    if isinstance(mount, dict) and "name" in mount:
        return mount["name"]
    last = path[-1]
    return last.value if isinstance(last, Match) and last.field == "name" else None


def _mounted(root: Any, path: Path, kept_mounts: list[Any]) -> bool:
    """Whether `path` is a pod spec's volume that a recorded mount the take-back left
    (not found, or changed since) still names in one of its containers."""
    last = path[-1]
    if len(path) < 2 or path[-2] != "volumes" or not isinstance(last, Match):
        return False
    if last.value not in kept_mounts:
        return False
    pod = get(root, path[:-2])
    if not isinstance(pod, dict):
        return False
    for list_name in ("initContainers", "containers"):
        listed = pod.get(list_name)
        for container in listed if isinstance(listed, list) else []:
            mounts = container.get("volumeMounts") if isinstance(container, dict) else None
            for mount in mounts if isinstance(mounts, list) else []:
                if isinstance(mount, dict) and mount.get("name") == last.value:
                    return True
    return False


def undo(root: Any, ops: list[Op]) -> dict[str, int]:
    """Take back recorded ops, newest first; a value a user changed since stays as it is.
    Returns where the credentials whose literal was not recorded were removed from: the
    path of each and its index in its list."""
    removed: dict[str, int] = {}  # by the path's text: a path may hold unhashable values
    kept_mounts: list[Any] = []  # volume names of recorded mounts that could not go
    for op in reversed(ops):
        current = get(root, op.path)
        if op.kind is Kind.ADD and _names_mount(op.path) and not _there(current, op.digest):
            kept_mounts.append(_volume_of(op.path, current))
        if op.kind is Kind.PREFIX:
            if isinstance(current, list) and _same(current[: op.elements], op.digest):
                for _ in range(op.elements):
                    del current[0]
                _prune(root, op.path, op.created)
        elif op.kind is Kind.MERGE:
            # The keys go only together, while none of them was changed since.
            keys = op.prior
            if (
                isinstance(current, dict)
                and all(k in current for k in keys)
                and _same({k: current[k] for k in keys}, op.digest)
            ):
                for key in keys:
                    del current[key]
                _prune(root, op.path, op.created)
        elif current is not ABSENT and _same(current, op.digest):
            if op.kind is Kind.ADD and _mounted(root, op.path, kept_mounts):
                continue  # a mount the take-back could not find still names the volume
            restored = ABSENT if op.prior is REDACTED else op.prior
            last = op.path[-1]
            if restored is ABSENT and op.kind is Kind.SET and isinstance(last, Match):
                removed[format_path(op.path)] = _find(get(root, op.path[:-1]), last)
            _write(root, op.path, restored)
            if op.kind is Kind.ADD and _names_mount(op.path) and get(root, op.path) is not ABSENT:
                # A copy of the recorded mount is left (the user's): it keeps its volume.
                kept_mounts.append(_volume_of(op.path, current))
            if op.kind is Kind.ADD:
                _prune(root, op.path[:-1], op.created)
    return removed
