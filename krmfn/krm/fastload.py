"""Loading an item's text into ruamel's round-trip data without ruamel's pure-Python
scanner and parser.

libyaml (PyYAML's C parser) reads the text into events; they become ruamel nodes, with
the tags ruamel's own resolver gives them (YAML 1.2, not libyaml's 1.1), the styles and
flow styles libyaml saw, and its marks; ruamel's round-trip constructor then builds the
data from them as it would from its own composer's nodes: CommentedMaps with their flow
style, quoted strings as ScalarString subclasses, ints and floats with their formats.

Only text that holds nothing ruamel keeps apart from the nodes takes this path:
`load` returns None for anything else (comments, blank lines, anchors, aliases, tags,
merge keys, tabs, folded scalars, characters ruamel refuses), and the caller loads the
text with ruamel.
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict
from functools import cache
from typing import Any, NamedTuple

import yaml
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from krmfn.krm.document import MAX_ITEM_DEPTH, MAX_ITEM_NODES

# What ruamel's reader refuses (ruamel.yaml.reader.Reader.NON_PRINTABLE), and tabs and
# carriage returns, which ruamel's scanner reads differently from libyaml.
_UNSUPPORTED_CHARS = re.compile("[^\x0a\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# A line with nothing but spaces: ruamel keeps it as a comment.
_BLANK_LINE = re.compile(r"\n *\n")


class _Unsupported(Exception):
    """The text holds something only ruamel's own reader keeps."""


# ruamel's tag of a scalar by (value, implicit), resolved once: most values repeat.
_SCALAR_TAGS: dict[tuple[str, bool, bool], Any] = {}
_MAX_SCALAR_TAGS = 100_000


@cache
def _ruamel() -> tuple[Any, Any, Any, Any]:
    """A resolver (YAML 1.2, as a round-trip load resolves) and ruamel's node classes."""
    from ruamel.yaml import YAML
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    return YAML(typ="rt").resolver, ScalarNode, SequenceNode, MappingNode


def plain_enough(text: str) -> bool:
    """A cheap first test: no tab, carriage return, unusual character or blank line."""
    return _UNSUPPORTED_CHARS.search(text) is None and _BLANK_LINE.search(text) is None


class _Frame:
    """A mapping or sequence being filled, with its key waiting for its value."""

    __slots__ = ("data", "flow", "is_map", "key", "key_mark", "mark")

    def __init__(self, data: Any, is_map: bool, flow: bool, mark: Any) -> None:
        self.data = data
        self.is_map = is_map
        self.flow = flow
        self.mark = mark
        self.key: Any = _NO_KEY
        self.key_mark: Any = None


_NO_KEY: Any = object()


def _construct(text: str, constructor: Any) -> Any:
    """The data of `text`, built from libyaml's events as ruamel's round-trip constructor
    builds it from its nodes. Raises _Unsupported."""
    resolver, scalar_node, _, _ = _ruamel()
    commented_map, commented_seq, line_col, strings = _data_types()
    tags = _SCALAR_TAGS
    if len(tags) > _MAX_SCALAR_TAGS:
        tags.clear()
    parser = yaml.CSafeLoader(text)
    # Spans of the scalars: a `#` anywhere else starts a comment.
    spans: list[tuple[int, int]] = []
    hashes = "#" in text
    stack: list[_Frame] = []
    root: Any = None
    # What document.check_size measures on libyaml's nodes of the item: its nodes, its
    # height, and whether a key is not a string (two such keys may be written alike).
    count = height = 0
    other_keys = False
    try:
        parser.get_event()  # stream start
        parser.get_event()  # document start
        while True:
            event: Any = parser.get_event()
            kind = type(event)
            if kind is ScalarEvent or kind is MappingStartEvent or kind is SequenceStartEvent:
                count += 1
                if len(stack) > height:
                    height = len(stack)
            if kind is ScalarEvent:
                if event.anchor is not None or event.tag is not None:
                    raise _Unsupported
                value = event.value
                mark = event.start_mark
                if hashes:
                    spans.append((mark.index, event.end_mark.index))
                style = event.style
                if style:  # quoted or a block scalar: a string
                    made = strings.get(style)
                    if made is None:
                        raise _Unsupported  # folded: ruamel marks its folds in the value
                    data: Any = made(value)
                else:
                    implicit = event.implicit
                    key = (value, implicit[0], implicit[1])
                    tag = tags.get(key)
                    if tag is None:
                        tag = tags[key] = resolver.resolve(scalar_node, value, implicit)
                    if tag == _STR:
                        data = value
                    elif tag == _MERGE:
                        raise _Unsupported
                    else:
                        node = scalar_node(tag, value, mark, event.end_mark)
                        data = constructor.construct_non_recursive_object(node)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if event.anchor is not None or event.tag is not None:
                    raise _Unsupported
                if stack and stack[-1].is_map and stack[-1].key is _NO_KEY:
                    raise _Unsupported  # a collection as a key
                is_map = kind is MappingStartEvent
                made = commented_map() if is_map else commented_seq()
                lc = line_col()
                mark = event.start_mark
                lc.line, lc.col = mark.line, mark.column
                made._yaml_line_col = lc
                stack.append(_Frame(made, is_map, event.flow_style, mark))
                continue
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                frame = stack.pop()
                data, mark = frame.data, frame.mark
                if data:
                    data.fa._flow_style = bool(frame.flow)
            elif kind is AliasEvent:
                raise _Unsupported
            else:  # the document's end
                break
            if not stack:
                root = data
                continue
            top = stack[-1]
            container = top.data
            lc = container._yaml_line_col
            if lc.data is None:
                lc.data = {}
            if not top.is_map:
                lc.data[len(container)] = [mark.line, mark.column]
                container.append(data)
            elif top.key is _NO_KEY:
                top.key, top.key_mark = data, mark
                if not isinstance(data, str):
                    other_keys = True
            else:
                key, key_mark = top.key, top.key_mark
                if key in container:
                    raise _Unsupported  # ruamel says it is a duplicate key
                lc.data[key] = [key_mark.line, key_mark.column, mark.line, mark.column]
                container[key] = data
                top.key = _NO_KEY
        if parser.check_event() and not isinstance(parser.peek_event(), yaml.StreamEndEvent):
            raise _Unsupported  # a second document
    except yaml.YAMLError:
        raise _Unsupported from None
    finally:
        parser.dispose()
    if hashes and _has_comment(text, spans):
        raise _Unsupported
    return Loaded(root, not other_keys and count <= MAX_ITEM_NODES and height <= MAX_ITEM_DEPTH)


class Loaded(NamedTuple):
    data: Any
    # Whether document.check_size passes on the item's nodes: no key is written twice
    # (a duplicate string key is no fast load at all), and the item is within the limits.
    checked: bool


def indent_style(data: Any) -> tuple[int, int]:
    """What roundtrip._indent_style gives for the item's nodes, from the lines and
    columns the fast load recorded (each node has one place in the data: no aliases)."""
    commented_map, commented_seq, _, _ = _data_types()
    mappings: list[tuple[int, int]] = []  # (depth, indent)
    offsets: list[tuple[int, int]] = []
    stack = [(data, 0)]
    while stack:
        current, depth = stack.pop()
        kind = type(current)
        if kind is not commented_map or _flow(current):
            if kind is commented_seq and not _flow(current):
                stack.extend((v, depth + 1) for v in reversed(current))
            continue
        places = current._yaml_line_col.data or {}
        for key, value in _ODICT_ITEMS(current):
            value_kind = type(value)
            if value_kind is commented_map or value_kind is commented_seq:
                key_line, key_column, line, column = places[key]
                if not _flow(value) and value and line > key_line:
                    seen = mappings if value_kind is commented_map else offsets
                    seen.append((depth, column - key_column))
                stack.append((value, depth + 1))
    return outermost(mappings, offsets)


def outermost(mappings: list[tuple[int, int]], offsets: list[tuple[int, int]]) -> tuple[int, int]:
    """(mapping indent, sequence dash offset) from the (depth, indent) an item writes,
    in the order they were seen. An item is written in one style; one that mixes them
    (llm-d's wide-ep guide puts its `roles:` dashes at the key's column and indents its
    pods' lists) keeps its outermost one, which moves the fewest lines: an outer
    collection holds the inner ones. Of the outermost, the one written most often, then
    the first seen. (2, 0) where there are none."""
    return _outermost(mappings, 2, 1), _outermost(offsets, 0, 0)


def _outermost(seen: list[tuple[int, int]], default: int, least: int) -> int:
    usable = [(depth, n) for depth, n in seen if n >= least]
    if not usable:
        return default
    top = min(depth for depth, _ in usable)
    found = [n for depth, n in usable if depth == top]
    counts = Counter(found)
    most = max(counts.values())
    return next(n for n in found if counts[n] == most)


def _flow(collection: Any) -> bool:
    """The flow style libyaml read (an empty collection is never measured)."""
    fa = getattr(collection, "_yaml_format", None)
    return bool(fa is not None and fa._flow_style)


_ODICT_ITEMS: Any = OrderedDict.items


_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


@cache
def _data_types() -> tuple[Any, Any, Any, dict[str, Any]]:
    """ruamel's containers, its line and column record, and the string classes its
    round-trip constructor (preserving quotes) makes of each scalar style."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq, LineCol
    from ruamel.yaml.scalarstring import (
        DoubleQuotedScalarString,
        LiteralScalarString,
        SingleQuotedScalarString,
    )

    strings = {
        '"': DoubleQuotedScalarString,
        "'": SingleQuotedScalarString,
        "|": LiteralScalarString,
    }
    return CommentedMap, CommentedSeq, LineCol, strings


def _has_comment(text: str, spans: list[tuple[int, int]]) -> bool:
    """Whether a `#` of the text is outside every scalar."""
    at = text.find("#")
    index = 0
    while at >= 0:
        while index < len(spans) and spans[index][1] <= at:
            index += 1
        if index == len(spans) or not spans[index][0] <= at:
            return True
        at = text.find("#", at + 1)
    return False


def load(text: str, constructor_of: Any) -> Loaded | None:
    """The round-trip data of `text` as ruamel would load it, or None when the text holds
    something only ruamel's reader keeps. `constructor_of()` gives ruamel's
    RoundTripConstructor (a YAML instance's `constructor`, preserving quotes)."""
    if not plain_enough(text):
        return None
    try:
        data = _construct(text, constructor_of())
    except _Unsupported:
        return None
    except Exception:  # whatever ruamel refuses, it says so on its own path
        return None
    return data if isinstance(data.data, _data_types()[0]) else None
