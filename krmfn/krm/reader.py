"""Finding items in the input from libyaml's parser events, without building a node tree.

The parser is a state machine in C and does not recurse, so nesting depth is checked as
the events go by. Per item only its span and the fields used to find targets are kept;
the function composes the few items it reads or edits later, from their own text
(`Item.node`). Untouched items never become Python objects, which keeps the time near
libyaml's own and the memory near the size of the text.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from krmfn.krm.errors import FieldError

# An event from libyaml: it always carries its marks, which the stubs call optional.
Ev = Any

# libyaml's parser does not recurse, but the libyaml bundled with newer PyYAML wheels
# refuses more than 1,000 levels with a message of its own: a lower bound of ours gives
# one answer whichever libyaml is installed. Manifests nest a few dozen levels.
MAX_NESTING = 512

_TRAILING_COMMENT = re.compile(r"[ \t]+#[^\n]*")
_NULLS = ("", "~", "null", "Null", "NULL")


class Span(NamedTuple):
    """Where one node is written: [start, end) without trailing comment lines, and the
    column of its first character (a block node's lines are indented from there)."""

    start: int
    end: int
    column: int
    kind: str  # "mapping", "sequence", "scalar" or "alias"
    flow: bool = False


class Anchors(NamedTuple):
    """Every alias and every anchor of the text, (where, anchor name), shared by its items
    and filled as the reader goes."""

    aliases: list[tuple[int, str]]
    anchors: list[tuple[int, str]]


# What to keep of each item, given by the caller: a mapping of keys to what to keep of
# their values. SCALAR keeps a scalar's text, STRINGS a mapping of scalars (labels,
# annotations), a one-element list keeps each element of a sequence by its spec, and a
# nested mapping walks on. Everything else is skipped without building Python objects.
SCALAR = "scalar"
INTERNED = "interned"  # a scalar shared by many items
STRINGS = "strings"
FieldSpec = dict[str, Any]
# What every item needs whatever the caller asks: its identity and the annotations that
# say where kpt read it from and whether it is local config.
BASE_FIELDS: FieldSpec = {
    "apiVersion": INTERNED,
    "kind": INTERNED,
    "metadata": {"name": SCALAR, "namespace": SCALAR, "annotations": STRINGS},
}


class Identity(NamedTuple):
    """What the reader keeps of an item that has nothing but its identity."""

    api_version: str | None
    kind: str | None
    name: str | None
    namespace: str | None
    annotations: dict[str, str] | None


Fields = dict[str, Any] | Identity
_IDENTITY = frozenset({"apiVersion", "kind", "metadata"})
_METADATA = frozenset({"name", "namespace", "annotations"})


def merge_specs(*specs: FieldSpec) -> FieldSpec:
    """One spec that keeps everything any of the given specs keeps."""
    out: FieldSpec = {}
    for spec in specs:
        for key, value in spec.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge_specs(out[key], value)
            else:
                out[key] = value
    return out


def _too_deep(line: int) -> FieldError:
    return FieldError(f"input nests collections deeper than {MAX_NESTING} levels (line {line})")


def _error(exc: yaml.YAMLError) -> FieldError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if "maximum nesting depth" in problem and mark is not None:
        # The scanner of a newer libyaml reads ahead of the parser and may reach its own
        # bound (1,000) before the parser has handed over level 513: the same answer.
        return _too_deep(mark.line + 1)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return FieldError(f"input is not valid YAML{where}: {problem}")


def _kind_of(event: Ev) -> str:
    if isinstance(event, MappingStartEvent):
        return "mapping"
    if isinstance(event, SequenceStartEvent):
        return "sequence"
    return "alias" if isinstance(event, AliasEvent) else "scalar"


class Reader:
    """One pass over the events of a text."""

    def __init__(self, text: str, fields: FieldSpec = BASE_FIELDS) -> None:
        self.text = text
        self._loader = yaml.CSafeLoader(text)
        self._depth = 0
        # The last event that wrote text: its end is where a node's content ends.
        self._last: Ev | None = None
        # Every alias and anchor in the text: an anchor an alias outside its item uses
        # must outlive an edit of that item, and the item that holds it stays.
        self.refs = Anchors([], [])
        self.aliases = self.refs.aliases
        # The anchors of the current document by name: the parser does not check aliases
        # (its composer does), so the reader does.
        self._defined: set[str] = set()
        # The reader of an item's fields, built once from the spec, not per item.
        self._spec = merge_specs(BASE_FIELDS, fields)
        self._read_fields = self._compile(self._spec)
        # Whether a field being kept is an alias: events do not resolve them, so such an
        # item's fields are read again from the composed text (`_resolved`).
        self._aliased = False
        self._composed: dict[int, Any] | None = None  # item nodes by where they start

    def close(self) -> None:
        self._loader.dispose()
        # The field readers refer back to the reader: with the cyclic GC off for the run,
        # this cycle would keep the parser (and its copy of the input) alive to the end.
        self._read_fields = self._scalar

    def next(self) -> Ev:
        try:
            event: Ev = self._loader.get_event()
        except yaml.YAMLError as exc:
            raise _error(exc) from None
        if event is None:  # past the end: never loop on it
            raise FieldError("input ends inside a node")
        kind = type(event)
        if kind is ScalarEvent:
            self._last = event
            if event.anchor is not None:
                self._anchor(event)
        elif kind is AliasEvent:
            self._last = event
            if event.anchor not in self._defined:
                mark = event.start_mark
                raise FieldError(
                    f"input is not valid YAML at line {mark.line + 1}, column"
                    f" {mark.column + 1}: found undefined alias {event.anchor!r}"
                )
            self.aliases.append((event.start_mark.index, event.anchor))
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            self._depth += 1
            if self._depth > MAX_NESTING:
                raise _too_deep(event.start_mark.line + 1)
            if event.anchor is not None:
                self._anchor(event)
        elif kind is DocumentStartEvent:
            self._defined = set()  # anchors are the document's own
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            self._depth -= 1
            # A flow collection ends with a bracket; a block one with nothing.
            if event.end_mark.index > event.start_mark.index:
                self._last = event
        return event

    def _anchor(self, event: Ev) -> None:
        self.refs.anchors.append((event.start_mark.index, event.anchor))
        self._defined.add(event.anchor)

    @staticmethod
    def _start(event: Ev) -> int:
        index: int = event.start_mark.index
        return index

    def skip(self, first: Ev) -> None:
        """Consume the rest of the node that `first` starts: `next` already counts the
        depth, so read until it is back to where it was before `first`."""
        if not isinstance(first, CollectionStartEvent):
            return
        outside = self._depth - 1
        while self._depth > outside:
            self.next()

    def span(self, first: Ev) -> Span:
        """Consume the node that `first` starts and say where it is written."""
        self._last = first
        self.skip(first)
        return Span(
            first.start_mark.index,
            self._content_end(),
            first.start_mark.column,
            _kind_of(first),
            bool(getattr(first, "flow_style", False)),
        )

    def last_end(self) -> int:
        """Where the text of the last node read ends."""
        return int(self._last.end_mark.index) if self._last is not None else 0

    def _content_end(self) -> int:
        """The end of the last text written: a block collection's end mark lies past the
        comments that follow it, which belong to whatever comes next. A comment on the
        last line stays with the node; a block scalar keeps its line break."""
        last = self._last
        assert last is not None
        text = self.text
        end: int = last.end_mark.index
        if isinstance(last, ScalarEvent) and last.style in ("|", ">"):
            start = self._start(last)
            header = text[start : text.find("\n", start)]
            if "+" in header:  # keep chomping: the trailing blank lines are content
                return end
            return min(start + len(text[start:end].rstrip()) + 1, len(text))
        match = _TRAILING_COMMENT.match(text, end)
        return match.end() if match else end

    def _other(self, event: Ev) -> None:
        """Consume a value the spec does not keep as it is: noted when it is an alias."""
        if type(event) is AliasEvent:
            self._aliased = True
        self.skip(event)

    def string_map(self, first: Ev) -> dict[str, str]:
        """A mapping of scalars (labels, annotations); anything else inside is skipped."""
        out: dict[str, str] = {}
        if not isinstance(first, MappingStartEvent):
            self._other(first)
            return out
        while True:
            key = self.next()
            if isinstance(key, MappingEndEvent):
                return out
            if not isinstance(key, ScalarEvent):  # a collection as a key: skip both
                self._other(key)
                self._other(self.next())
                continue
            value = self.next()
            if isinstance(value, ScalarEvent):
                out[key.value] = value.value
            else:
                self._other(value)

    def _compile(self, spec: Any) -> Any:
        """The reader of a value, for its spec: it consumes the value's events and returns
        what the spec keeps of it (None where the value has another shape)."""
        if spec == SCALAR:
            return self._scalar
        if spec == STRINGS:
            return self.string_map
        if isinstance(spec, list):
            element = self._compile(spec[0])
            return lambda event: self._sequence(event, element)
        # Each key is stored as the spec's own string: a million items share it.
        wanted = {
            key: (key, self._interned if value == INTERNED else self._compile(value))
            for key, value in spec.items()
        }
        return lambda event: self._mapping(event, wanted)

    def _scalar(self, event: Ev) -> str | None:
        if isinstance(event, ScalarEvent):
            return str(event.value)
        self._other(event)
        return None

    def _interned(self, event: Ev) -> str | None:
        """A scalar that repeats across items (apiVersion, kind): one string for all."""
        value = self._scalar(event)
        return sys.intern(value) if value is not None else None

    def _sequence(self, event: Ev, element: Any) -> list[Any] | None:
        if not isinstance(event, SequenceStartEvent):
            self._other(event)
            return None
        out = []
        while not isinstance(first := self.next(), SequenceEndEvent):
            out.append(element(first))
        return out

    def _mapping(self, first: Ev, wanted: dict[str, Any]) -> dict[str, Any] | None:
        """Walk a mapping, handing the value of each wanted key to its reader."""
        if not isinstance(first, MappingStartEvent):
            self._other(first)
            return None
        out: dict[str, Any] = {}
        while True:
            key = self.next()
            if isinstance(key, MappingEndEvent):
                return out
            if not isinstance(key, ScalarEvent):  # a collection as a key: skip both
                self._other(key)
                self._other(self.next())
                continue
            value = self.next()
            found = wanted.get(key.value)
            if found is None:
                self.skip(value)
            else:
                name, reader = found
                out[name] = reader(value)

    def item(self, first: Ev) -> tuple[Span, Fields]:
        """One resource: its span and, for a mapping, the fields the spec keeps of it
        (only its identity, as a tuple, when it has no other: a list can hold a million)."""
        if not isinstance(first, MappingStartEvent):
            return self.span(first), {}
        start: Any = first.start_mark
        self._aliased = False
        fields = self._read_fields(first)
        flow = bool(first.flow_style)
        span = Span(start.index, self._content_end(), start.column, "mapping", flow)
        if self._aliased:
            fields = self._resolved(start.index, fields)
        metadata = fields.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        if _IDENTITY.issuperset(fields) and _METADATA.issuperset(metadata):
            identity = Identity(
                fields.get("apiVersion"),
                fields.get("kind"),
                metadata.get("name"),
                metadata.get("namespace"),
                metadata.get("annotations"),
            )
            return span, identity
        return span, fields

    def _resolved(self, start: int, fields: dict[str, Any]) -> dict[str, Any]:
        """The fields of an item that holds an alias where the spec keeps a value: read
        from the composed text, where the alias is its anchor's node (it may be in an
        earlier item). The text is composed once, for the first such item; an item
        that cannot be found there keeps what the events gave."""
        if self._composed is None:
            self._composed = _item_nodes(self.text)
        node = self._composed.get(start)
        kept = _select(node, self._spec) if node is not None else None
        return kept if isinstance(kept, dict) else fields


def _item_nodes(text: str) -> dict[int, Any]:
    """Each item's composed node by where it starts: a stream's documents and a
    ResourceList's `items`. Empty where the text does not compose (the reader said why)."""
    found: dict[int, Any] = {}
    loader = yaml.CSafeLoader(text)
    try:
        while loader.check_node():
            root = loader.get_node()
            if root is None:
                break
            found[root.start_mark.index] = root
            if isinstance(root, yaml.MappingNode):
                for key, value in root.value:
                    if key.value == "items" and isinstance(value, yaml.SequenceNode):
                        found.update((node.start_mark.index, node) for node in value.value)
    except yaml.YAMLError:
        return {}
    finally:
        loader.dispose()
    return found


def _select(node: Any, spec: Any) -> Any:
    """What the reader keeps of a composed node, by the same spec (see `Reader._compile`)."""
    if spec in (SCALAR, INTERNED):
        return str(node.value) if isinstance(node, yaml.ScalarNode) else None
    if spec == STRINGS:
        if not isinstance(node, yaml.MappingNode):
            return {}
        return {
            key.value: value.value
            for key, value in node.value
            if isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.ScalarNode)
        }
    if isinstance(spec, list):
        if not isinstance(node, yaml.SequenceNode):
            return None
        return [_select(element, spec[0]) for element in node.value]
    if not isinstance(node, yaml.MappingNode):
        return None
    out: dict[str, Any] = {}
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value in spec:
            out[key.value] = _select(value, spec[key.value])
    return out


class Parsed:
    """The input as items and the few top-level values the function needs."""

    __slots__ = (
        "function_config",
        "items",
        "items_flow",
        "kind",
        "last_value_end",
        "results",
        "results_last_end",
        "root_close",
        "root_flow",
    )

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.items_flow = False
        self.root_flow = False
        # Where the root mapping ends: a flow root's closing brace; a block root's end of
        # content, before a document end marker (`...`).
        self.root_close = 0
        # Where the root's last value ends (no comment after it): a flow root's next key
        # goes there.
        self.last_value_end = 0
        self.kind = ""
        self.function_config: Span | None = None
        self.results: Span | None = None
        # Where the last element of a flow `results` list ends: new results go after it.
        self.results_last_end: int | None = None


# What becomes of each item as it is read: (position, span, fields, in a flow list,
# the text's anchors and aliases) -> the caller's object for it. Made as the reader goes,
# so that nothing is held twice for a list of a million items.
MakeItem = Callable[[int, Span, Fields, bool, Anchors], Any]


def _pair(position: int, span: Span, fields: Fields, flow: bool, anchors: Anchors) -> Any:
    return span, fields


def read_stream(text: str, fields: FieldSpec = BASE_FIELDS, make: MakeItem = _pair) -> Parsed:
    reader = Reader(text, fields)
    try:
        items: list[Any] = []
        while not isinstance(event := reader.next(), StreamEndEvent):
            if isinstance(event, DocumentStartEvent):
                span, kept = reader.item(reader.next())
                items.append(make(len(items), span, kept, False, reader.refs))
            elif not isinstance(event, DocumentEndEvent):
                reader.skip(event)
        parsed = Parsed(items)
        return parsed
    finally:
        reader.close()


def read_resource_list(
    text: str, fields: FieldSpec = BASE_FIELDS, make: MakeItem = _pair
) -> Parsed:
    reader = Reader(text, fields)
    try:
        reader.next()  # stream start
        event = reader.next()
        if isinstance(event, StreamEndEvent):
            raise FieldError("input is empty: expected a ResourceList")
        root = reader.next()
        if not isinstance(root, MappingStartEvent):
            span = reader.span(root)
            if span.kind == "scalar" and isinstance(root, ScalarEvent) and root.value in _NULLS:
                raise FieldError("input is empty: expected a ResourceList")
            raise FieldError(f"input is a YAML {span.kind}, not a ResourceList")
        parsed = Parsed([])
        parsed.root_flow = bool(root.flow_style)
        seen: set[str] = set()
        while not isinstance(key := reader.next(), MappingEndEvent):
            if not isinstance(key, ScalarEvent):  # a collection as a key: skip both
                reader.skip(key)
                reader.skip(reader.next())
                continue
            value = reader.next()
            name = key.value
            if name in seen:
                # kustomize and kpt refuse it (`mapping key already defined`); which of
                # the two would a function read, and which would it write to?
                raise FieldError(f"the ResourceList has the key {name!r} twice")
            seen.add(name)
            if name == "items":
                _read_items(reader, value, parsed, make)
            elif name == "kind" and isinstance(value, ScalarEvent):
                parsed.kind = value.value
            elif name == "functionConfig":
                parsed.function_config = reader.span(value)
            elif name == "results":
                parsed.results, parsed.results_last_end = _read_results(reader, value)
            else:
                reader.skip(key)
                reader.skip(value)
            parsed.last_value_end = reader.last_end()
        parsed.root_close = Reader._start(key)
        reader.next()  # document end
        if not isinstance(reader.next(), StreamEndEvent):
            raise FieldError("input holds more than one YAML document; expected one ResourceList")
        return parsed
    finally:
        reader.close()


def _read_results(reader: Reader, value: Ev) -> tuple[Span, int | None]:
    """The span of `results`, and for a flow list with elements where the last one ends
    (the elements themselves stay as they were written)."""
    if not (isinstance(value, SequenceStartEvent) and value.flow_style):
        return reader.span(value), None
    last_end = None
    while not isinstance(element := reader.next(), SequenceEndEvent):
        reader.skip(element)
        last_end = reader.last_end()
    start: Any = value.start_mark
    return Span(start.index, reader._content_end(), start.column, "sequence", True), last_end


def _read_items(reader: Reader, value: Ev, parsed: Parsed, make: MakeItem) -> None:
    if isinstance(value, SequenceStartEvent):
        flow = parsed.items_flow = bool(value.flow_style)
        items = parsed.items
        while not isinstance(element := reader.next(), SequenceEndEvent):
            span, kept = reader.item(element)
            items.append(make(len(items), span, kept, flow, reader.refs))
    elif not (isinstance(value, ScalarEvent) and value.value in _NULLS and not value.style):
        kind = reader.span(value).kind
        raise FieldError(f"ResourceList items is a YAML {kind}, not a list")
