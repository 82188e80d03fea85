"""Finding items in the input from libyaml's parser events, without building a node tree.

The parser is a state machine in C and does not recurse, so nesting depth is checked as
the events go by. Per item only its span and the fields used to find targets are kept;
the function composes the few items it reads or edits later, from their own text
(`Item.node`). Untouched items never become Python objects, which keeps the time near
libyaml's own and the memory near the size of the text.
"""

from __future__ import annotations

import re
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

from krmfn.krm.errors import InputError

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


class Fields:
    """What discovery needs from an item, read from its events."""

    __slots__ = (
        "annotations",
        "api_version",
        "kind",
        "labels",
        "name",
        "namespace",
        "owner_references",
        "template_labels",
    )

    def __init__(self) -> None:
        self.api_version = self.kind = self.name = self.namespace = ""
        self.labels: dict[str, str] | None = None
        self.annotations: dict[str, str] | None = None
        self.owner_references: list[dict[str, str]] | None = None
        self.template_labels: dict[str, str] | None = None


def _too_deep(line: int) -> InputError:
    return InputError(f"input nests collections deeper than {MAX_NESTING} levels (line {line})")


def _error(exc: yaml.YAMLError) -> InputError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if "maximum nesting depth" in problem and mark is not None:
        # The scanner of a newer libyaml reads ahead of the parser and may reach its own
        # bound (1,000) before the parser has handed over level 513: the same answer.
        return _too_deep(mark.line + 1)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return InputError(f"input is not valid YAML{where}: {problem}")


def _kind_of(event: Ev) -> str:
    if isinstance(event, MappingStartEvent):
        return "mapping"
    if isinstance(event, SequenceStartEvent):
        return "sequence"
    return "alias" if isinstance(event, AliasEvent) else "scalar"


class Reader:
    """One pass over the events of a text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._loader = yaml.CSafeLoader(text)
        self._depth = 0
        # The last event that wrote text: its end is where a node's content ends.
        self._last: Ev | None = None
        # The item being read, and what to read of it: the keys that identify it, each
        # with the reader of its value (built once, not per item).
        self._fields = Fields()
        metadata = {
            "name": self._scalar_field("name"),
            "namespace": self._scalar_field("namespace"),
            "labels": self._map_field("labels"),
            "annotations": self._map_field("annotations"),
            "ownerReferences": self._owner_references,
        }
        template = {"metadata": self._walk({"labels": self._map_field("template_labels")})}
        self._identity = {
            "apiVersion": self._scalar_field("api_version"),
            "kind": self._scalar_field("kind"),
            "metadata": self._walk(metadata),
            "spec": self._walk({"template": self._walk(template)}),
        }

    def close(self) -> None:
        self._loader.dispose()
        # The field readers refer back to the reader: with the cyclic GC off for the run,
        # this cycle would keep the parser (and its copy of the input) alive to the end.
        self._identity.clear()

    def next(self) -> Ev:
        try:
            event: Ev = self._loader.get_event()
        except yaml.YAMLError as exc:
            raise _error(exc) from None
        kind = type(event)
        if kind is ScalarEvent or kind is AliasEvent:
            self._last = event
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            self._depth += 1
            if self._depth > MAX_NESTING:
                raise _too_deep(event.start_mark.line + 1)
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            self._depth -= 1
            # A flow collection ends with a bracket; a block one with nothing.
            if event.end_mark.index > event.start_mark.index:
                self._last = event
        return event

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

    def string_map(self, first: Ev) -> dict[str, str]:
        """A mapping of scalars (labels, annotations); anything else inside is skipped."""
        out: dict[str, str] = {}
        if not isinstance(first, MappingStartEvent):
            self.skip(first)
            return out
        while True:
            key = self.next()
            if isinstance(key, MappingEndEvent):
                return out
            value = self.next()
            if isinstance(key, ScalarEvent) and isinstance(value, ScalarEvent):
                out[key.value] = value.value
            else:
                self.skip(key)
                self.skip(value)

    def mapping(self, first: Ev, wanted: dict[str, Any]) -> None:
        """Walk a mapping, handing the value of each wanted key to its reader."""
        if not isinstance(first, MappingStartEvent):
            self.skip(first)
            return
        while True:
            key = self.next()
            if isinstance(key, MappingEndEvent):
                return
            value = self.next()
            reader = wanted.get(key.value) if isinstance(key, ScalarEvent) else None
            if reader is None:
                self.skip(key)
                self.skip(value)
            else:
                reader(value)

    def _walk(self, wanted: dict[str, Any]) -> Any:
        return lambda event: self.mapping(event, wanted)

    def _scalar_field(self, name: str) -> Any:
        def read(event: Ev) -> None:
            if isinstance(event, ScalarEvent):
                setattr(self._fields, name, event.value)
            else:
                self.skip(event)

        return read

    def _map_field(self, name: str) -> Any:
        return lambda event: setattr(self._fields, name, self.string_map(event))

    def _owner_references(self, event: Ev) -> None:
        if not isinstance(event, SequenceStartEvent):
            self.skip(event)
            return
        refs = self._fields.owner_references = []
        while not isinstance(element := self.next(), SequenceEndEvent):
            refs.append(self.string_map(element))

    def item(self, first: Ev) -> tuple[Span, Fields]:
        """One resource: its span and, for a mapping, the fields that identify it."""
        fields = self._fields = Fields()
        if not isinstance(first, MappingStartEvent):
            return self.span(first), fields
        start: Any = first.start_mark
        self.mapping(first, self._identity)
        flow = bool(first.flow_style)
        span = Span(start.index, self._content_end(), start.column, "mapping", flow)
        return span, fields


class Parsed:
    """The input as items and the few top-level values the function needs."""

    __slots__ = (
        "function_config",
        "items",
        "items_flow",
        "kind",
        "results",
        "root_close",
        "root_flow",
    )

    def __init__(self, items: list[tuple[Span, Fields]]) -> None:
        self.items = items
        self.items_flow = False
        self.root_flow = False
        self.root_close = 0  # where the root mapping ends: a flow root's closing brace
        self.kind = ""
        self.function_config: Span | None = None
        self.results: Span | None = None


def read_stream(text: str) -> Parsed:
    reader = Reader(text)
    try:
        items: list[tuple[Span, Fields]] = []
        while not isinstance(event := reader.next(), StreamEndEvent):
            if isinstance(event, DocumentStartEvent):
                items.append(reader.item(reader.next()))
            elif not isinstance(event, DocumentEndEvent):
                reader.skip(event)
        return Parsed(items)
    finally:
        reader.close()


def read_resource_list(text: str) -> Parsed:
    reader = Reader(text)
    try:
        reader.next()  # stream start
        event = reader.next()
        if isinstance(event, StreamEndEvent):
            raise InputError("input is empty: expected a ResourceList")
        root = reader.next()
        if not isinstance(root, MappingStartEvent):
            span = reader.span(root)
            if span.kind == "scalar" and isinstance(root, ScalarEvent) and root.value in _NULLS:
                raise InputError("input is empty: expected a ResourceList")
            raise InputError(f"input is a YAML {span.kind}, not a ResourceList")
        parsed = Parsed([])
        parsed.root_flow = bool(root.flow_style)
        while not isinstance(key := reader.next(), MappingEndEvent):
            value = reader.next()
            name = key.value if isinstance(key, ScalarEvent) else None
            if name == "items":
                _read_items(reader, value, parsed)
            elif name == "kind" and isinstance(value, ScalarEvent):
                parsed.kind = value.value
            elif name == "functionConfig":
                parsed.function_config = reader.span(value)
            elif name == "results":
                parsed.results = reader.span(value)
            else:
                reader.skip(key)
                reader.skip(value)
        parsed.root_close = Reader._start(key)
        reader.next()  # document end
        if not isinstance(reader.next(), StreamEndEvent):
            raise InputError("input holds more than one YAML document; expected one ResourceList")
        return parsed
    finally:
        reader.close()


def _read_items(reader: Reader, value: Ev, parsed: Parsed) -> None:
    if isinstance(value, SequenceStartEvent):
        parsed.items_flow = bool(value.flow_style)
        while not isinstance(element := reader.next(), SequenceEndEvent):
            parsed.items.append(reader.item(element))
    elif not (isinstance(value, ScalarEvent) and value.value in _NULLS and not value.style):
        kind = reader.span(value).kind
        raise InputError(f"ResourceList items is a YAML {kind}, not a list")
