"""Round-trip editing of one item with ruamel.yaml, keeping its comments and style.

Only edited items come here. The item's text is cut out of the list, dedented, loaded,
edited, dumped in the indentation style the item itself used, and re-indented to its
column so it can be spliced back in place.
"""

from __future__ import annotations

import base64
import io
from collections import OrderedDict
from functools import cache
from typing import Any, cast

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from krmfn.krm import fastdump, fastload
from krmfn.krm.document import Item, check_size
from krmfn.krm.errors import FieldError

# PyYAML's resolver reads YAML 1.1 like kubectl and the API machinery do: `yes`, `on`,
# `12:30`, `0777` are not strings there even though YAML 1.2 says they are.
_RESOLVER_11 = yaml.resolver.Resolver()


def needs_quotes(value: str) -> bool:
    tag = _RESOLVER_11.resolve(yaml.nodes.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return bool(tag != "tag:yaml.org,2002:str")


@cache
def _yaml(mapping: int, offset: int) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.representer import RoundTripRepresenter

    class Representer(RoundTripRepresenter):
        # One object inserted twice must not become an anchor and an alias: kustomize
        # cannot resolve aliases across items and users do not expect them.
        def ignore_aliases(self, data: Any) -> bool:
            return True

        # `env:` with no value stays `env:`, not `env: null`.
        def represent_none(self, data: Any) -> Any:
            return self.represent_scalar("tag:yaml.org,2002:null", "")

    Representer.add_representer(type(None), Representer.represent_none)

    y = YAML(typ="rt")
    y.Representer = Representer
    y.preserve_quotes = True
    y.width = 1 << 30
    y.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    y.brace_single_entry_mapping_in_flow_sequence = True
    return y


def _indent_style(node: Node) -> tuple[int, int]:
    """(mapping indent, sequence dash offset) as the item writes its outermost ones (see
    fastload.outermost); (2, 0) if unseen."""
    mappings: list[tuple[int, int]] = []  # (depth, indent)
    offsets: list[tuple[int, int]] = []
    stack = [(node, 0)]
    while stack:
        current, depth = stack.pop()
        if not isinstance(current, MappingNode) or current.flow_style:
            if isinstance(current, SequenceNode) and not current.flow_style:
                stack.extend((v, depth + 1) for v in reversed(current.value))
            continue
        for key, value in current.value:
            if isinstance(value, MappingNode) and not value.flow_style and value.value:
                if value.start_mark.line > key.start_mark.line:
                    mappings.append((depth, value.start_mark.column - key.start_mark.column))
            elif (
                isinstance(value, SequenceNode)
                and not value.flow_style
                and value.value
                and value.start_mark.line > key.start_mark.line
            ):
                offsets.append((depth, value.start_mark.column - key.start_mark.column))
            if isinstance(value, MappingNode | SequenceNode):
                stack.append((value, depth + 1))
    return fastload.outermost(mappings, offsets)


def _dedent(text: str, column: int) -> str:
    if column == 0:
        return text
    lines = text.split("\n")
    out = [lines[0]]
    for line in lines[1:]:
        stripped = len(line) - len(line.lstrip(" "))
        out.append(line[min(stripped, column) :])
    return "\n".join(out)


def _indent(text: str, column: int) -> str:
    if column == 0:
        return text
    pad = " " * column
    lines = text.split("\n")
    return "\n".join([lines[0]] + [pad + line if line else line for line in lines[1:]])


def _without_tabs(text: str) -> str:
    """libyaml (and kubectl) read a tab as the space after `key:` or before a comment;
    ruamel's scanner refuses it. Tabs become spaces only if that changes no value, as
    libyaml reads both texts: a tab inside a quoted string stays and the error with it."""
    spaced = text.replace("\t", " ")
    if yaml.load(spaced, Loader=yaml.CSafeLoader) != yaml.load(text, Loader=yaml.CSafeLoader):
        raise ValueError("a tab that is part of a value cannot be edited")
    return spaced


def _cannot_edit(item: Item, problem: str) -> FieldError:
    return FieldError(f"{item.describe()} cannot be edited: {problem}")


class RoundTrip:
    """A ruamel view of one item: `data` is edited in place, `text()` renders it. Both
    raise FieldError for an item that cannot be edited (too big, or text ruamel cannot
    read or write), so nothing is touched."""

    def __init__(self, item: Item) -> None:
        self.item = item
        self._source = item.source
        text = _dedent(self._source, item.column)
        # Text without comments or other features only ruamel's reader keeps: libyaml
        # reads it, into the data ruamel's round-trip constructor builds (its
        # constructor does not depend on the indentation style).
        y = _yaml(2, 0)
        fast = fastload.load(text, lambda: y.constructor)
        self._fast_loaded = fast is not None
        if fast is not None and fast.checked:
            # Within the limits, no key written twice: what check_size and
            # _indent_style find on libyaml's nodes, from the same reading.
            self._style = fastload.indent_style(fast.data)
        else:
            try:
                check_size(item.node)
            except FieldError as exc:
                raise _cannot_edit(item, exc.message) from None
            self._style = _indent_style(item.node)
        if fast is not None:
            self.data: Any = fast.data
        else:
            try:
                self.data = self._load(text)
            except Exception as exc:  # whatever ruamel raises for text it cannot read
                # ruamel's errors carry the problem apart from the context it was found in.
                lines = str(exc).strip().splitlines()
                problem = getattr(exc, "problem", None) or (
                    lines[0] if lines else type(exc).__name__
                )
                raise _cannot_edit(item, problem) from None
            tagged = _tagged_key(self.data)
            if tagged is not None:
                # ruamel keeps `!!str metadata` as a key apart from `metadata`: an edit
                # would write that key a second time.
                raise _cannot_edit(
                    item, f"the key {tagged!r} has an explicit tag; write it without the tag"
                )
        # Data the fast load built holds no alias, anchor or comment: nothing to expand,
        # and no comment to move.
        self._shared = (
            {} if self._fast_loaded else _expand_aliases(self.data, item.anchors_used_elsewhere())
        )

    def _load(self, text: str) -> Any:
        try:
            return _yaml(*self._style).load(text)
        except Exception:
            if "\t" not in text:
                raise
            return _yaml(*self._style).load(_without_tabs(text))

    def text(self) -> tuple[str, bool]:
        """The edited item's text (see `_text`), checked to keep each anchor that an alias
        in another item uses, with the value it had: an edit that removes or changes one
        (a scalar's too) would break or change that item."""
        out, lost = self._text()
        used = self.item.anchors_used_elsewhere()
        if used:
            before = _anchored(_dedent(self._source, self.item.column))
            after = _anchored(_dedent(out, self.item.column))
            for name in sorted(used & before.keys()):
                if after.get(name, _UNBUILDABLE) != before[name]:
                    raise _cannot_edit(
                        self.item,
                        f"another item uses its anchor &{name} (through an alias), and the"
                        " edit would change or remove it; write the value out in the other item",
                    )
        return out, lost

    def _text(self) -> tuple[str, bool]:
        """The edited item's text, and whether its comments had to be left out: ruamel
        can write a comment back where it breaks the YAML (after a flow mapping that ends
        a block list, say), so the text is read back and, if it does not give the data
        that was edited, written again from the plain data."""
        for name, (node, before) in self._shared.items():
            if to_plain(node) != before:
                raise _cannot_edit(
                    self.item,
                    f"another item uses its anchor &{name} (through an alias), and the edit"
                    " would change that item too; write the value out in the other item",
                )
        if self.item.in_flow:
            # Inside a flow sequence (JSON input) an item stays on flow syntax, its
            # scalars as they were written (`yes`, `0644` mean what they meant).
            _flow(self.data, json_like=self._source.lstrip().startswith('{"'))
            out = self._dump(self.data).strip("\n")
            if self._reads_back(out):
                return out, False
            from krmfn.krm.document import to_json

            return to_json(to_plain(self.data)), True
        if not self._fast_loaded:
            _comments_ruamel_can_write(self.data)
        out = self._dump(self.data)
        if self._reads_back(out):
            return out, False
        out = self._dump(to_ruamel(to_plain(self.data)))
        if not self._reads_back(out):
            raise _cannot_edit(self.item, "the edited item cannot be written as valid YAML")
        return out, True

    def _dump(self, data: Any) -> str:
        # Data without comments, anchors or block scalars: written as ruamel writes it,
        # without ruamel's event machinery (see krmfn.krm.fastdump).
        fast = fastdump.dump(data, *self._style)
        if fast is not None:
            out = fast
        else:
            buf = io.StringIO()
            _yaml(*self._style).dump(data, buf)
            out = buf.getvalue()
        # A keep-chomped block scalar at the end makes ruamel end the document with
        # `...`: in a list, the next item ends the scalar instead.
        if out.endswith("\n...\n"):
            out = out[: -len("...\n")]
        if not self._source.endswith("\n"):
            out = out.rstrip("\n")
        return _indent(out, self.item.column)

    def _reads_back(self, text: str) -> bool:
        """Whether `text` means the edited data. libyaml reads it first: it is what reads
        the list on the next run, and ten times faster than ruamel. Only when its reading
        is not plainly the same (an explicit tag, a key that is not a string, a merge
        key) does ruamel read the text too, and its data decides."""
        dedented = _dedent(text, self.item.column)
        expected = to_plain(self.data)
        try:
            node = yaml.compose(dedented, Loader=_ReadBackLoader)
        except yaml.YAMLError:
            return False
        if node is not None and _means(node, expected):
            return True
        try:
            again = _yaml(*self._style).load(dedented)
        except Exception:  # any reader error means the text is not what was meant
            return False
        return bool(to_plain(again) == expected)


_STR = "tag:yaml.org,2002:str"


class _AnchorsLoader(yaml.SafeLoader):
    """The pure-Python composer, which knows each anchor's name (libyaml's does not say):
    for the few items whose anchors other items use."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.anchored: dict[str, Node] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        node = super().compose_node(parent, index)
        anchor = None if isinstance(event, yaml.AliasEvent) else getattr(event, "anchor", None)
        if anchor is not None and node is not None:
            self.anchored[anchor] = node
        return node


def _anchored(text: str) -> dict[str, Any]:
    """Each anchor of the text and the value of its node."""
    loader = _AnchorsLoader(text)
    try:
        loader.get_single_node()
        return {
            name: loader.construct_object(node, deep=True) for name, node in loader.anchored.items()
        }
    except yaml.YAMLError:
        return {}
    finally:
        loader.dispose()


def _tagged_key(data: Any) -> str | None:
    """The text of the first mapping key written with an explicit tag, if any."""
    from ruamel.yaml.comments import TaggedScalar

    stack: list[Any] = [data]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            for key in node:
                if isinstance(key, TaggedScalar):
                    return str(key.value)
                if isinstance(key, bytes):  # `!!binary name`: read as bytes
                    return base64.b64encode(key).decode()
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def _expand_aliases(data: Any, used_elsewhere: set[str]) -> dict[str, tuple[Any, Any]]:
    """Give each alias inside the item a copy of its own, so that an edit of one place
    is not an edit of every place that shares it (a LeaderWorkerSet whose workerTemplate
    is an alias of its leaderTemplate gets the model argument once in each). The output
    then holds no aliases and no anchors, but those an alias in another item uses: they
    are written again, and returned (name -> (node, its data before the edit)) so that an
    edit that would change the other item too is refused."""
    seen: set[int] = set()
    kept: dict[str, tuple[Any, Any]] = {}
    stack: list[Any] = [data]
    while stack:
        node: Any = stack.pop()
        if not isinstance(node, dict | list):
            continue
        anchor = getattr(node, "anchor", None)
        name = getattr(anchor, "value", None)
        if name in used_elsewhere and name not in kept:
            cast(Any, node).yaml_set_anchor(name, always_dump=True)
            kept[name] = (node, to_plain(node))
        pairs = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        for key, child in pairs:
            if not isinstance(child, dict | list):
                continue
            if id(child) in seen:
                child = _copy(child)
                node[key] = child
            seen.add(id(child))
            stack.append(child)
    return kept


def _copy(node: Any) -> Any:
    """A copy of an aliased collection, without its anchor: new containers all the way
    down (scalars cannot be edited in place), in the style the original was written."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    out: Any
    if isinstance(node, dict):
        out = CommentedMap((k, _copy(v)) for k, v in node.items())
    elif isinstance(node, list):
        out = CommentedSeq(_copy(v) for v in node)
    else:
        return node
    if node.fa.flow_style():
        out.fa.set_flow_style()
    return out


def _flow(data: Any, json_like: bool) -> None:
    """Every collection of an item in flow style, as a flow list holds it; in an item
    written as JSON, the strings an edit added double-quoted as JSON writes them."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString

    def quoted(value: Any) -> Any:
        if json_like and isinstance(value, str) and not isinstance(value, ScalarString):
            return DoubleQuotedScalarString(value)
        return value

    stack: list[Any] = [data]
    while stack:
        node: Any = stack.pop()
        if isinstance(node, dict):
            pairs = list(node.items())
            if json_like and any(quoted(k) is not k or quoted(v) is not v for k, v in pairs):
                node.clear()
                for key, value in pairs:
                    node[quoted(key)] = quoted(value)
        elif isinstance(node, list):
            node[:] = [quoted(v) for v in node]
        else:
            continue
        cast(Any, node).fa.set_flow_style()
        stack.extend(node.values() if isinstance(node, dict) else node)


def _means(node: Node, value: Any) -> bool:
    """Whether libyaml's node tree is `value` (plain data, as `to_plain` gives it) when
    its plain scalars are resolved the way ruamel resolves them (YAML 1.2). False means
    "not shown", not "different"."""
    if isinstance(node, MappingNode):
        if not isinstance(value, dict) or len(node.value) != len(value):
            return False
        keys = set()
        for key, item in node.value:
            if not isinstance(key, ScalarNode) or key.tag != _STR or key.value not in value:
                return False
            keys.add(key.value)
            if not _means(item, value[key.value]):
                return False
        return len(keys) == len(value)
    if isinstance(node, SequenceNode):
        return (
            isinstance(value, list)
            and len(node.value) == len(value)
            and all(_means(n, v) for n, v in zip(node.value, value, strict=True))
        )
    if not isinstance(node, ScalarNode):
        return False
    if node.style:  # quoted or block: a string unless tagged otherwise (plain: "" in libyaml)
        return node.tag == _STR and value == node.value
    tag, constructed = _plain_scalar(node.value)
    if tag == _STR:
        return isinstance(value, str) and value == node.value
    if constructed is _UNBUILDABLE:  # a value ruamel cannot build is not shown to be the same
        return False
    return bool(type(constructed) is type(value) and constructed == value)


_UNBUILDABLE: Any = object()
# Plain scalars as ruamel reads them, (tag, plain value), by their text: the items of a
# list repeat the same keys and values.
_PLAIN_SCALARS: dict[str, tuple[str, Any]] = {}
_MAX_CACHED = 100_000


def _plain_scalar(text: str) -> tuple[str, Any]:
    """ruamel's tag of a plain scalar and its plain value (_UNBUILDABLE if ruamel cannot
    build it)."""
    found = _PLAIN_SCALARS.get(text)
    if found is None:
        resolver, construct = _scalars()
        tag = resolver(text)
        value: Any = text
        if tag != _STR:
            try:
                value = to_plain(construct(tag, text))
            except Exception:  # whatever ruamel's constructor raises for this text
                value = _UNBUILDABLE
        if len(_PLAIN_SCALARS) > _MAX_CACHED:
            _PLAIN_SCALARS.clear()
        found = _PLAIN_SCALARS[text] = (tag, value)
    return found


class _ReadBackLoader(yaml.CSafeLoader):
    """libyaml's safe loader, with the tags PyYAML's resolver gives plain scalars kept
    by their text (a pure function of it: the safe loader has no path resolvers)."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not ScalarNode:
            return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        key = (value, implicit)
        found = _READ_BACK_TAGS.get(key)
        if found is None:
            if len(_READ_BACK_TAGS) > _MAX_CACHED:
                _READ_BACK_TAGS.clear()
            found = _READ_BACK_TAGS[key] = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        return found


_READ_BACK_TAGS: dict[tuple[str, tuple[bool, bool]], str] = {}


@cache
def _scalars() -> tuple[Any, Any]:
    """ruamel's resolver and constructor for one plain scalar."""
    from ruamel.yaml import YAML
    from ruamel.yaml.nodes import ScalarNode as RuamelScalar

    y = YAML(typ="rt")
    resolver, constructor = y.resolver, y.constructor

    def resolve(text: str) -> str:
        return str(resolver.resolve(RuamelScalar, text, (True, False)))

    def construct(tag: str, text: str) -> Any:
        return constructor.yaml_constructors[tag](constructor, RuamelScalar(tag, text))

    return resolve, construct


def _comments_ruamel_can_write(data: Any) -> None:
    """Move the comments that ruamel would write where they break the YAML.

    - A block list or mapping that an edit emptied (taking back a prefix of args, say)
      keeps the comments of its first lines, and ruamel writes them before its `[]`, on a
      line of their own: `args:  # c` then `[]`. Such a value is written in flow style
      with its comments after it (`args: []  # c`), as it was before the function first
      filled it.
    - A list element written in flow style with a comment after it (`- {name: HF_HOME,
      value: /x}  # c`) that the function replaces with a block mapping: ruamel writes the
      comment after the `-` and the mapping after it. The comment goes after the last
      value of the new mapping instead.
    """
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    stack = [data]
    while stack:
        node = stack.pop()
        in_map = isinstance(node, CommentedMap)
        for key, value in node.items() if in_map else enumerate(node):
            if not isinstance(value, CommentedMap | CommentedSeq):
                continue
            stack.append(value)
            if in_map and not value:
                _emptied(node, key, value)
            elif not in_map and value and isinstance(value, CommentedMap):
                _replaced_flow_element(node, key, value)


def _emptied(parent: Any, key: Any, value: Any) -> None:
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    if not value.ca.comment:
        return
    eol, before = value.ca.comment[0], value.ca.comment[1] or []
    value.ca.comment = None
    value.fa.set_flow_style()
    entry = parent.ca.items.setdefault(key, [None, None, None, None])
    entry[3] = None  # comments between the key and a block value: there is none now
    if eol is not None or before:
        text = "".join(
            [eol.value if eol is not None else ""] + [" " * t.column + t.value for t in before]
        ).lstrip(" ")
        column = eol.column if eol is not None else 0
        entry[2] = CommentToken(text, CommentMark(column))


def _replaced_flow_element(seq: Any, index: int, value: Any) -> None:
    entry = seq.ca.items.get(index)
    if not entry or entry[0] is None or value.fa.flow_style():
        return
    last = next(reversed(value))
    if isinstance(value[last], dict | list):
        return  # the read-back check writes the item without comments, with a warning
    slot = value.ca.items.setdefault(last, [None, None, None, None])
    if slot[2] is None:
        slot[2] = entry[0]
        entry[0] = None


def to_plain(value: Any) -> Any:
    """ruamel's commented containers and scalar subclasses as plain JSON-able data."""
    kind = type(value)
    if kind is str:
        return value
    if kind is commented_map():
        # The ordered dict's own items: the same pairs as CommentedMap.items(), without
        # its Python-level view (every key is there, so no merge lookup is involved).
        return {str(k): to_plain(v) for k, v in _ODICT_ITEMS(value)}
    if isinstance(value, list):
        # The list's own elements (a CommentedSeq iterates them one __getitem__ at a time).
        return [to_plain(v) for v in _LIST_ITER(value)]
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


_ODICT_ITEMS: Any = OrderedDict.items
_LIST_ITER: Any = list.__iter__


@cache
def commented_map() -> Any:
    from ruamel.yaml.comments import CommentedMap

    return CommentedMap


def to_ruamel(value: Any) -> Any:
    """Plain data as ruamel containers, so inserted mappings keep their key order and
    inserted strings that a YAML 1.1 reader would take for another type are quoted."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString

    if isinstance(value, dict):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = to_ruamel(v)
        return out
    if isinstance(value, list):
        return CommentedSeq(to_ruamel(v) for v in value)
    if isinstance(value, str) and not isinstance(value, ScalarString) and needs_quotes(value):
        return DoubleQuotedScalarString(value)
    return value
