"""Writing round-trip data as ruamel's round-trip dumper writes it, without its
representer, serializer and event-driven emitter.

This is ruamel's emitter (ruamel.yaml.emitter.Emitter) cut down to what an edited item
without comments holds: block and flow mappings and sequences, and plain, single-quoted
and double-quoted scalars on one line. The decisions are ruamel's own, made the same way
(its scalar analysis, style choice, indentation stack and column bookkeeping), walking the
data directly instead of a stream of events; the dumper's settings are those of
`krmfn.krm.roundtrip._yaml` (width unlimited, unicode as it is, `{}` around a single-entry
mapping in a flow sequence, null as an empty scalar).

`dump` returns None for data it does not cover (comments, anchors, tags, merge keys, block
scalars, a multi-line single-quoted string, a key that is not a string or too long to be
a simple key, an object of another type): the caller dumps those with ruamel.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import cache
from typing import Any

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_BREAKS = "\n\x85\u2028\u2029"
_MAX_SIMPLE_KEY_LENGTH = 128
_MAX_CACHED = 100_000
_ESCAPES = {
    "\0": "0",
    "\x07": "a",
    "\x08": "b",
    "\x09": "t",
    "\x0a": "n",
    "\x0b": "v",
    "\x0c": "f",
    "\x0d": "r",
    "\x1b": "e",
    '"': '"',
    "\\": "\\",
    "\x85": "N",
    "\xa0": "_",
    "\u2028": "L",
    "\u2029": "P",
}


class _Unsupported(Exception):
    """The data holds something only ruamel's own dumper writes."""


class _Analysis:
    """ruamel's ScalarAnalysis of one scalar's text (allow_block is left out: it is set
    to True just before the only place that reads it)."""

    __slots__ = (
        "allow_block_plain",
        "allow_double_quoted",
        "allow_flow_plain",
        "allow_single_quoted",
        "empty",
        "multiline",
    )

    def __init__(self, text: str) -> None:
        analysis = _ruamel_analysis(text)
        self.empty = analysis.empty
        self.multiline = analysis.multiline
        self.allow_flow_plain = analysis.allow_flow_plain
        self.allow_block_plain = analysis.allow_block_plain
        self.allow_single_quoted = analysis.allow_single_quoted
        self.allow_double_quoted = analysis.allow_double_quoted


@cache
def _analyzer() -> Any:
    """ruamel's Emitter.analyze_scalar with the dumper's settings (unicode allowed,
    YAML 1.2)."""
    from ruamel.yaml.emitter import Emitter

    class _Settings:
        allow_unicode = True
        unicode_supplementary = True
        allow_space_break = None

        class serializer:  # the attribute ruamel reads
            use_version = None

    settings = _Settings()
    return lambda text: Emitter.analyze_scalar(settings, text)  # type: ignore[arg-type]


def _ruamel_analysis(text: str) -> Any:
    return _analyzer()(text)


_ANALYSES: dict[str, _Analysis] = {}


def _analysis(text: str) -> _Analysis:
    found = _ANALYSES.get(text)
    if found is None:
        if len(_ANALYSES) > _MAX_CACHED:
            _ANALYSES.clear()
        found = _ANALYSES[text] = _Analysis(text)
    return found


_PLAIN_TAGS: dict[str, str] = {}


def _plain_tag(text: str) -> str:
    """The tag ruamel's resolver gives `text` written plain."""
    found = _PLAIN_TAGS.get(text)
    if found is None:
        if len(_PLAIN_TAGS) > _MAX_CACHED:
            _PLAIN_TAGS.clear()
        found = _PLAIN_TAGS[text] = str(_resolver()(text))
    return found


@cache
def _resolver() -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.nodes import ScalarNode

    resolver = YAML(typ="rt").resolver
    return lambda text: resolver.resolve(ScalarNode, text, (True, False))


@cache
def _types() -> dict[type, str | None]:
    """The string classes ruamel writes in a style of their own: the style they ask for
    (None: the dumper chooses)."""
    from ruamel.yaml.scalarstring import (
        DoubleQuotedScalarString,
        LiteralScalarString,
        PlainScalarString,
        SingleQuotedScalarString,
    )

    return {
        str: None,
        PlainScalarString: "",
        SingleQuotedScalarString: "'",
        DoubleQuotedScalarString: '"',
        LiteralScalarString: "|",
    }


@cache
def _scalar_representer() -> Any:
    """ruamel's representer for the scalars written as ruamel writes them (its ints and
    floats keep their formats)."""
    from krmfn.krm.roundtrip import _yaml

    return _yaml(2, 0).representer


class _Writer:
    """The state of ruamel's emitter that decides where text goes."""

    def __init__(self, mapping: int, sequence: int, offset: int) -> None:
        self.best_map_indent = mapping
        self.best_sequence_indent = sequence
        self.dash_offset = offset
        self.out: list[str] = []
        self.indents: list[tuple[int | None, bool | None]] = []
        self.indent: int | None = None
        self.flow_context: list[str] = []
        self.column = 0
        self.whitespace = True
        self.indention = True
        self.no_newline: bool | None = None

    # Indentation, as ruamel's Indents and increase_indent.

    def increase_indent(
        self, flow: bool = False, sequence: bool | None = None, indentless: bool = False
    ) -> None:
        self.indents.append((self.indent, sequence))
        if self.indent is None:
            self.indent = None if flow else 0  # requested_indent is None
        elif not indentless:
            last_seq = len(self.indents) >= 2 and self.indents[-2][1]
            self.indent += self.best_sequence_indent if last_seq else self.best_map_indent

    def pop_indent(self) -> None:
        self.indent = self.indents.pop()[0]

    def seq_seq(self) -> bool:
        return len(self.indents) >= 2 and bool(self.indents[-2][1]) and bool(self.indents[-1][1])

    def seq_flow_align(self) -> int:
        values = self.indents
        if len(values) < 2 or not values[-1][1]:
            return 0
        base = values[-1][0] if values[-1][0] is not None else 0
        return base + self.best_sequence_indent - self.column - 1

    # Writers.

    def write_indicator(
        self,
        indicator: str,
        need_whitespace: bool,
        whitespace: bool = False,
        indention: bool = False,
    ) -> None:
        data = indicator if self.whitespace or not need_whitespace else " " + indicator
        self.whitespace = whitespace
        self.indention = self.indention and indention
        self.column += len(data)
        self.out.append(data)

    def write_indent(self) -> None:
        indent = self.indent or 0
        if (
            not self.indention
            or self.column > indent
            or (self.column == indent and not self.whitespace)
        ):
            if self.no_newline:
                self.no_newline = False
            else:
                self.write_line_break()
        if self.column < indent:
            self.whitespace = True
            self.out.append(" " * (indent - self.column))
            self.column = indent

    def write_line_break(self) -> None:
        self.whitespace = True
        self.indention = True
        self.column = 0
        self.out.append("\n")

    def write_plain(self, text: str) -> None:
        if not text:
            return
        if not self.whitespace:
            self.column += 1
            self.out.append(" ")
        self.whitespace = False
        self.indention = False
        self.column += len(text)
        self.out.append(text)

    def write_single_quoted(self, text: str) -> None:
        self.write_indicator("'", True)
        data = text.replace("'", "''")
        self.column += len(data)
        self.out.append(data)
        self.write_indicator("'", False)

    def write_double_quoted(self, text: str) -> None:
        self.write_indicator('"', True)
        data = _double_quoted(text)
        self.column += len(data)
        self.out.append(data)
        self.write_indicator('"', False)

    def write_literal(self, text: str) -> None:
        """ruamel's write_literal for text whose only line breaks are line feeds, not ending
        in a blank line (`|+` leaves the document open: ruamel ends it with `...`)."""
        hints = ""
        if text:
            if text[0] in " \n":
                hints = "2"
            if text[-1] != "\n":
                hints += "-"
            elif len(text) == 1 or text[-2] == "\n":
                raise _Unsupported
        if "\x85" in text or "\u2028" in text or "\u2029" in text:
            raise _Unsupported
        self.write_indicator("|" + hints, True)
        self.write_line_break()
        # Runs of line breaks, each then indented, and the lines between them; the
        # lines do not move the column (as in ruamel).
        at, length = 0, len(text)
        while at < length:
            end = at
            while end < length and text[end] == "\n":
                end += 1
            for _ in range(end - at):
                self.write_line_break()
            if end == length:
                return
            self.write_indent()
            at = text.find("\n", end)
            if at < 0:
                self.out.append(text[end:])
                self.write_line_break()
                return
            self.out.append(text[end:at])

    # Nodes. The context ruamel's emitter keeps in attributes (root, sequence, mapping,
    # simple key) is passed down instead.

    def node(self, value: Any, sequence: bool = False, mapping: bool = False) -> None:
        kind = type(value)
        if kind is _MAP:
            self.mapping(value, mapping)
        elif kind is _SEQ:
            self.sequence(value, mapping)
        elif isinstance(value, dict | list):
            raise _Unsupported  # a plain dict or list: ruamel's representer decides
        else:
            self.scalar(value, sequence, False)

    def sequence(self, value: list[Any], mapping: bool) -> None:
        # _flow_style first: it refuses an anchor or comments in flow context too.
        if _flow_style(value) or self.flow_context or not value:
            self.flow_sequence_start()
            if self.seq_seq():
                self.indention = True
                self.no_newline = False
            if not value:
                self.pop_indent()
                self.flow_context.pop()
                self.write_indicator("]", False)
                if not self.flow_context:
                    self.write_line_break()
                return
            for index, element in enumerate(_LIST_ITER(value)):
                if index:
                    self.write_indicator(",", False)
                self.node(element, sequence=True)
            self.pop_indent()
            self.flow_context.pop()
            self.write_indicator("]", False)
            self.no_newline = False
            return
        indentless = not self.indention if mapping else False
        self.increase_indent(flow=False, sequence=True, indentless=indentless)
        if self.seq_seq():
            self.indention = True
            self.no_newline = False
        dash = " " * self.dash_offset + "-"
        stays = self.dash_offset + 2 > self.best_sequence_indent
        for element in _LIST_ITER(value):
            nonl = self.no_newline if self.column == 0 else False
            self.write_indent()
            self.write_indicator(dash, True, indention=True)
            if nonl or stays:
                self.no_newline = True
            self.node(element, sequence=True)
        self.pop_indent()
        self.no_newline = False

    def flow_sequence_start(self) -> None:
        ind = self.seq_flow_align()
        self.write_indicator(" " * ind + "[", True, whitespace=True)
        self.increase_indent(flow=True, sequence=True)
        self.flow_context.append("[")

    def mapping(self, value: dict[Any, Any], mapping: bool) -> None:
        del mapping  # a block mapping starts the same in any context (compact_seq_map)
        if _flow_style(value) or self.flow_context or not value:  # as in sequence
            ind = self.seq_flow_align()
            self.write_indicator(" " * ind + "{", True, whitespace=True)
            self.flow_context.append("{")
            self.increase_indent(flow=True, sequence=False)
            if not value:
                self.pop_indent()
                self.flow_context.pop()
                self.write_indicator("}", False)
                if not self.flow_context:
                    self.write_line_break()
                return
            for index, (key, item) in enumerate(_ODICT_ITEMS(value)):
                if index:
                    self.write_indicator(",", False)
                self.scalar(key, False, True)
                self.write_indicator(":", False)
                self.node(item, mapping=True)
            self.pop_indent()
            self.flow_context.pop()
            self.write_indicator("}", False)
            self.no_newline = False
            return
        self.increase_indent(flow=False, sequence=False)
        for key, item in _ODICT_ITEMS(value):
            self.write_indent()
            self.scalar(key, False, True)
            self.write_indicator(":", False)
            self.node(item, mapping=True)
        self.pop_indent()

    def scalar(self, value: Any, sequence: bool, simple_key: bool) -> None:
        """A scalar, or a key (`simple_key`): as ruamel's process_tag, expect_scalar
        and process_scalar write it."""
        if type(value) is str:
            tag, text, requested = _STR, value, None
        else:
            if simple_key and type(value) not in _types():
                raise _Unsupported  # a key that is not a string
            tag, text, requested = _scalar(value)
        flow = bool(self.flow_context)
        key = (tag, text, requested, flow, simple_key)
        plan = _PLANS.get(key)
        if plan is None:
            if len(_PLANS) > _MAX_CACHED:
                _PLANS.clear()
            plan = _PLANS[key] = _plan(tag, text, requested, flow, simple_key)
        style, body = plan
        if style == "'" or style == '"':
            if sequence and not flow:
                self.increase_indent(flow=True)
                self.write_indent()
                self.pop_indent()
            self.write_indicator(style, True)
            self.column += len(body)
            self.out.append(body)
            self.write_indicator(style, False)
        elif style == "":
            if sequence and not flow:
                self.increase_indent(flow=True)
                self.write_indent()
                self.pop_indent()
            self.write_plain(body)
        elif style == "|":
            self.increase_indent(flow=True)
            if sequence and not flow:
                self.write_indent()
            self.write_literal(body)
            self.pop_indent()
        else:
            raise _Unsupported


# How each scalar is written, by (tag, text, requested style, in flow, as a simple key):
# (style, what goes between the quotes, or the plain or literal text).
_PLANS: dict[tuple[str, str, str | None, bool, bool], tuple[str | None, str]] = {}
_ODICT_ITEMS: Any = OrderedDict.items
_LIST_ITER: Any = list.__iter__
_MAP: Any = None
_SEQ: Any = None


def _plan(
    tag: str, text: str, requested: str | None, flow: bool, simple_key: bool
) -> tuple[str | None, str]:
    """ruamel's choice of style for a scalar in its context, and its text to write;
    style None: ruamel would write what this module does not (a tag, a complex key, a
    folded scalar, a single-quoted string over several lines)."""
    analysis = _analysis(text)
    if simple_key and (len(text) >= _MAX_SIMPLE_KEY_LENGTH or analysis.multiline):
        return None, ""  # ruamel writes it as a complex key (`? `)
    implicit_plain = _plain_tag(text) == tag
    style = _choose_style(analysis, text, requested, implicit_plain, flow, simple_key)
    if text == "" and style == "'" and tag == _NULL:
        text = "null"  # ruamel's alt_null
        analysis = _analysis(text)
        implicit_plain = _plain_tag(text) == tag
        style = _choose_style(analysis, text, requested, implicit_plain, flow, simple_key)
    # No tag is written: a plain scalar that reads back as its tag, or a quoted one that
    # reads back as a string.
    if not ((style == "" and implicit_plain) or (style != "" and tag == _STR)):
        return None, ""
    if style == '"':
        return style, _double_quoted(text)
    if style == "'":
        if analysis.multiline:
            return None, ""
        return style, text.replace("'", "''")
    if style == "|" or style == "":
        return style, text
    return None, ""


def _choose_style(
    analysis: _Analysis,
    text: str,
    requested: str | None,
    implicit_plain: bool,
    flow: bool,
    simple_key: bool,
) -> str:
    """ruamel's Emitter.choose_scalar_style."""
    if requested == '"':
        return '"'
    plain_allowed = analysis.allow_flow_plain if flow else analysis.allow_block_plain
    if (
        not requested
        and implicit_plain
        and plain_allowed
        and not (simple_key and (analysis.empty or analysis.multiline))
    ):
        return ""
    # ruamel's analysis allows a block scalar wherever it is asked for.
    if requested in ("|", ">") and not flow and not simple_key:
        return requested
    if not requested and analysis.allow_double_quoted and ("'" in text or "\n" in text):
        return '"'
    if (
        requested in (None, "", "'")
        and analysis.allow_single_quoted
        and not (simple_key and analysis.multiline)
    ):
        return "'"
    return '"'


def _flow_style(value: Any) -> bool:
    """Whether ruamel writes the collection in flow style; raises _Unsupported for one
    with comments, an anchor, a tag or merge keys."""
    comment = getattr(value, "_yaml_comment", None)
    if comment is not None and (comment.comment is not None or comment._items or comment._post):
        raise _Unsupported
    anchor = getattr(value, "_yaml_anchor", None)
    if anchor is not None and anchor.value is not None:
        raise _Unsupported
    tag = getattr(value, "_yaml_tag", None)
    if (tag is not None and tag.trval) or getattr(value, _MERGE_ATTRIBUTE, None):
        raise _Unsupported
    fa = getattr(value, "_yaml_format", None)
    flow = None if fa is None else fa._flow_style
    if flow is None:
        # ruamel's representer: a non-empty collection in block style (the round-trip
        # default), an empty one `{}` or `[]` (all its values are plain).
        return not value
    return bool(flow)


_MERGE_ATTRIBUTE = "_yaml_merge"


def _double_quoted(text: str) -> str:
    """The inside of ruamel's double-quoted scalar on one line (unicode allowed)."""
    out: list[str] = []
    start = 0
    for end, ch in enumerate(text):
        if ch in '"\\\x85\u2028\u2029\ufeff' or not (
            "\x20" <= ch <= "\x7e"
            or "\xa0" <= ch <= "\ud7ff"
            or "\ue000" <= ch <= "\ufffd"
            or "\U00010000" <= ch <= "\U0010ffff"
        ):
            out.append(text[start:end])
            if ch in _ESCAPES:
                out.append("\\" + _ESCAPES[ch])
            elif ch <= "\xff":
                out.append(f"\\x{ord(ch):02X}")
            elif ch <= "\uffff":
                out.append(f"\\u{ord(ch):04X}")
            else:
                out.append(f"\\U{ord(ch):08X}")
            start = end + 1
    out.append(text[start:])
    return "".join(out)


def _scalar(value: Any) -> tuple[str, str, str | None]:
    """(tag, text, requested style) as ruamel's representer gives them."""
    kind = type(value)
    styles = _types()
    if kind in styles:
        anchor = getattr(value, "_yaml_anchor", None)
        if (anchor is not None and anchor.value is not None) or getattr(value, "comment", None):
            raise _Unsupported
        return _STR, str(value), styles[kind]
    if value is None:
        return _NULL, "", None
    if kind is bool:
        return _BOOL, "true" if value else "false", None
    if kind is int:
        return _INT, str(value), None
    # ruamel's own scalar types (ints and floats with their formats, booleans kept as
    # written), and floats: ruamel's representer gives the text.
    from ruamel.yaml.nodes import ScalarNode

    if isinstance(value, str | dict | list):
        raise _Unsupported  # a block scalar, a tagged or an unknown string type
    representer = _scalar_representer()
    representer.alias_key = None
    try:
        node = representer.represent_data(value)
    finally:
        representer.represented_objects = {}
        representer.object_keeper = []
    if not isinstance(node, ScalarNode) or node.anchor is not None or node.style:
        raise _Unsupported
    return str(node.tag), node.value, None


def dump(data: Any, mapping: int, offset: int) -> str | None:
    """`data` written as `krmfn.krm.roundtrip._yaml(mapping, offset)` dumps it, or None
    where that takes ruamel itself."""
    global _MAP, _SEQ
    if _MAP is None:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        _MAP, _SEQ = CommentedMap, CommentedSeq
    if type(data) is not _MAP:
        return None
    writer = _Writer(mapping, offset + 2, offset)
    try:
        writer.node(data)
    except (_Unsupported, RecursionError):
        return None
    # The end of the document: the line is ended.
    writer.indent = None
    writer.write_indent()
    return "".join(writer.out)
