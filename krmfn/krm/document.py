"""A ResourceList (or a plain YAML stream) as items with spans, and writing it back.

Each item is known by its span in the original text (found by `krmfn.krm.reader`); an
item nobody edits is written back as exactly those characters, and an edited one is
spliced in at its span. Nothing is re-serialised that was not changed.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from krmfn.krm.errors import FieldError
from krmfn.krm.reader import (
    BASE_FIELDS,
    Anchors,
    Fields,
    FieldSpec,
    Identity,
    Parsed,
    Span,
    read_resource_list,
    read_stream,
)
from krmfn.krm.results import ResourceRef, Result

Mode = Literal["resourcelist", "stream"]

# Limits that keep a hostile input from exhausting memory or time.
MAX_INPUT_BYTES = 64 * 1024 * 1024
# Items the function reads or edits are walked in Python: bound their depth and their size
# with every alias expanded (an "alias bomb" is small text with a huge expansion).
MAX_ITEM_DEPTH = 100
MAX_ITEM_NODES = 200_000

_SEPARATOR = re.compile(r"^---(?=[ \t\r\n]|$)", re.MULTILINE)
_DIRECTIVE = re.compile(r"%")
# What starts the next document of a stream: its directives or its `---`.
_NEXT_DOCUMENT = re.compile(r"^(?:%|---(?=[ \t\r\n]|$))", re.MULTILINE)
_LONE_CR = re.compile(r"\r(?!\n)")
_PATH_ANNOTATIONS = ("internal.config.kubernetes.io/path", "config.kubernetes.io/path")
_INDEX_ANNOTATIONS = ("internal.config.kubernetes.io/index", "config.kubernetes.io/index")


# Characters YAML does not allow raw (C0 and C1 controls but tab and line feed, DEL, the
# BOM, non-characters) or reads as line breaks (NEL, LS, PS): JSON writes them escaped.
_UNPRINTABLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]"
)


def to_json(data: Any) -> str:
    """JSON for a flow (JSON) list: non-ASCII kept as it is, anything YAML cannot hold raw
    escaped."""
    text = json.dumps(data, ensure_ascii=False)
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_NONE: dict[str, Any] = {}  # shared, never written to


class Item:
    """One resource: where it is in the text and the few fields used to find it."""

    __slots__ = (
        "_node",
        "annotations",
        "api_version",
        "fields",
        "in_flow",
        "kind",
        "name",
        "namespace",
        "position",
        "refs",
        "span",
        "text",
    )

    def __init__(
        self,
        position: int,
        text: str,
        span: Span,
        fields: Fields,
        in_flow: bool,
        refs: Anchors | None = None,
    ) -> None:
        self.position = position
        # Every alias and anchor of the input, shared by its items.
        self.refs = refs if refs is not None else Anchors([], [])
        self.text = text  # the whole input: the item is text[span.start:span.end]
        self.span = span
        self.in_flow = in_flow
        if isinstance(fields, Identity):
            # An item with nothing but its identity keeps no dicts.
            self.api_version: str = fields.api_version or ""
            self.kind: str = fields.kind or ""
            self.name: str = fields.name or ""
            self.namespace: str = fields.namespace or ""
            self.annotations: dict[str, str] = fields.annotations or _NONE
            self.fields: dict[str, Any] = _NONE
        else:
            metadata = fields.get("metadata") or {}
            self.api_version = fields.get("apiVersion") or ""
            self.kind = fields.get("kind") or ""
            self.name = metadata.get("name") or ""
            self.namespace = metadata.get("namespace") or ""
            self.annotations = metadata.get("annotations") or _NONE
            # What the reader kept of the item, for the caller's fields.
            self.fields = fields
        self._node: Node | None = None

    def field(self, *path: str) -> Any:
        """A kept field by its keys, or None where the item has no such field."""
        value: Any = self.fields
        for key in path:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    def __repr__(self) -> str:
        return f"Item({self.position}, {self.ref}, {self.span})"

    @property
    def source(self) -> str:
        """The item's own text, as it came in."""
        return self.text[self.span.start : self.span.end]

    @property
    def start(self) -> int:
        return self.span.start

    @property
    def end(self) -> int:
        return self.span.end

    @property
    def column(self) -> int:
        return self.span.column

    @property
    def node(self) -> Node:
        """The item's nodes, composed from its own text when the function needs them.
        Raises FieldError for text that only parses within the whole input (an alias
        to an anchor of another item)."""
        if self._node is None:
            self._node = compose(self.text, self.span)
        return self._node

    def anchors_used_elsewhere(self) -> set[str]:
        """The anchor names aliases outside this item use (an anchor of this item that one
        of them uses must stay, unchanged)."""
        start, end = self.span.start, self.span.end
        return {name for at, name in self.refs.aliases if not start <= at < end}

    def holds_anchor_used_elsewhere(self) -> str | None:
        """The name of an anchor of this item that an alias outside it uses, if any: the
        item cannot leave the list without breaking the other."""
        start, end = self.span.start, self.span.end
        mine = {name for at, name in self.refs.anchors if start <= at < end}
        return next((name for name in sorted(mine & self.anchors_used_elsewhere())), None)

    @property
    def is_mapping(self) -> bool:
        return self.span.kind == "mapping"

    def describe(self) -> str:
        """`Kind namespace/name`, for messages."""
        return self.ref.describe()

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef(self.api_version, self.kind, self.name, self.namespace)

    @property
    def file(self) -> tuple[str, int | None]:
        path = next((self.annotations[a] for a in _PATH_ANNOTATIONS if a in self.annotations), "")
        index = next((self.annotations[a] for a in _INDEX_ANNOTATIONS if a in self.annotations), "")
        return path, int(index) if index.isdigit() else None

    def construct(self) -> Any:
        """Plain Python data for this item (YAML 1.1 as Kubernetes tools read it).
        Raises FieldError when the item is beyond the limits (see `check_size`)."""
        return construct(self.node)


def check_size(node: Node) -> None:
    """Refuse a node that is nested too deep, expands (through aliases) to too many nodes,
    or refers to itself, before anything walks it in Python."""
    memo: dict[int, tuple[int, int]] = {}  # id -> (expanded nodes, height)
    on_path: set[int] = set()

    def measure(current: Node, depth: int) -> tuple[int, int]:
        key = id(current)
        if key in on_path:
            raise FieldError("it refers to itself through a YAML alias")
        found = memo.get(key)
        if found is None:
            on_path.add(key)
            if isinstance(current, MappingNode):
                children = [n for pair in current.value for n in pair]
                keys = [k.value for k, _ in current.value if isinstance(k, ScalarNode)]
                if len(set(keys)) < len(keys):
                    duplicate = next(k for k in keys if keys.count(k) > 1)
                    raise FieldError(f"duplicate key {duplicate!r}")
            elif isinstance(current, SequenceNode):
                children = list(current.value)
            else:
                children = []
            if depth + 1 > MAX_ITEM_DEPTH and children:
                raise FieldError(f"it is nested deeper than {MAX_ITEM_DEPTH} levels")
            total, height = 1, 0
            for child in children:
                size, child_height = measure(child, depth + 1)
                total, height = total + size, max(height, child_height + 1)
                if total > MAX_ITEM_NODES:
                    raise FieldError(
                        f"it expands to more than {MAX_ITEM_NODES} YAML nodes (through aliases)"
                    )
            on_path.discard(key)
            found = memo[key] = (total, height)
        if depth + found[1] > MAX_ITEM_DEPTH:
            raise FieldError(f"it is nested deeper than {MAX_ITEM_DEPTH} levels")
        return found

    measure(node, 0)


def compose(text: str, span: Span) -> Node:
    """Compose one node from its own text. Indenting its first line to its column keeps
    the other lines valid where they are, so columns (and indentation style) hold."""
    source = " " * span.column + text[span.start : span.end]
    loader = yaml.CSafeLoader(source)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise FieldError(f"it cannot be read on its own: {problem}") from None
    finally:
        loader.dispose()
    if node is None:  # an empty value at the end of the text (`functionConfig:` and EOF)
        return yaml.ScalarNode("tag:yaml.org,2002:null", "")
    return node


def construct(node: Node) -> Any:
    """Plain data of a node. Raises FieldError for one beyond the limits, or with a value
    its tag cannot build (`!!int abc`, a tag of its own)."""
    check_size(node)
    loader = yaml.CSafeLoader("")
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise FieldError(f"a value cannot be read: {problem}") from None
    except (ValueError, TypeError, OverflowError, LookupError, AttributeError) as exc:
        # PyYAML's constructors raise these for a value that does not fit its tag: an
        # empty `!!int ''` or `!!float ''` an IndexError, `!!bool ''` a KeyError, a
        # `!!timestamp` that is no date an AttributeError.
        raise FieldError(f"a value does not fit its tag: {_tag_problem(exc)}") from None
    finally:
        loader.dispose()


def _tag_problem(exc: Exception) -> str:
    if isinstance(exc, (LookupError, AttributeError)):
        return "it is not a value of that type"
    return str(exc)


class Document:
    __slots__ = (
        "_added",
        "_dropped",
        "_edits",
        "function_config",
        "items",
        "mode",
        "parsed",
        "prior_results",
        "text",
    )

    def __init__(self, text: str, mode: Mode, items: list[Item], parsed: Parsed) -> None:
        self.text = text
        self.mode = mode
        self.items = items
        self.parsed = parsed
        self.function_config: Any = None
        self.prior_results: list[Any] = []
        self._edits: dict[int, tuple[int, int, str]] = {}
        self._dropped: set[int] = set()
        self._added: list[dict[str, Any]] = []

    def replace(self, item: Item, new_text: str) -> None:
        self._edits[item.position] = (item.start, item.end, new_text)

    @property
    def dropped(self) -> set[int]:
        """The positions of the items left out of the output."""
        return set(self._dropped)

    def drop(self, item: Item) -> None:
        """Leave an item out of the output: a function drops only what it owns (kpt
        deletes the file of an item missing from the output)."""
        self._dropped.add(item.position)

    def _drops(self) -> list[tuple[int, int, str]]:
        """The text the dropped items leave, in the list's style: a document of a stream
        with its `---` and directives, a block item's lines, a run of flow elements with
        the commas that joined them to the rest."""
        if self.mode == "stream":
            return [self._document_span(self.items[p]) for p in sorted(self._dropped)]
        if not self.parsed.items_flow:
            return [self._block_span(self.items[p]) for p in sorted(self._dropped)]
        edits = []
        items, positions = self.items, sorted(self._dropped)
        runs: list[list[int]] = []
        for position in positions:
            if runs and runs[-1][-1] == position - 1:
                runs[-1].append(position)
            else:
                runs.append([position])
        for run in runs:
            first, last = run[0], run[-1]
            if first > 0:  # a kept element before: from its end, with the comma
                edits.append((items[first - 1].end, items[last].end, ""))
            elif last + 1 < len(items):  # the list's first elements: up to the next
                edits.append((items[first].start, items[last + 1].start, ""))
            else:
                edits.append((items[first].start, items[last].end, ""))
        return edits

    def _document_span(self, item: Item) -> tuple[int, int, str]:
        """A document of a stream with its `---` line, its directives and the comments
        before its content (Helm's `# Source:` line), up to the next document's."""
        text = self.text
        before = self.items[item.position - 1].end if item.position else 0
        separators = list(_SEPARATOR.finditer(text, before, item.start))
        start = separators[-1].start() if separators else before
        while start > before and _DIRECTIVE.match(text, self._line_start(start - 1)):
            start = self._line_start(start - 1)
        end = len(text)
        if item.position + 1 < len(self.items):
            following = self.items[item.position + 1]
            found = _NEXT_DOCUMENT.search(text, item.end, following.start)
            end = found.start() if found else following.start
        return start, end, ""

    def _block_span(self, item: Item) -> tuple[int, int, str]:
        """An item of a block list: its lines, from its `- ` line to its last. The dash
        may be on a line of its own above the content (`-`, or `- # a comment`), with
        blank and comment lines between."""
        start = self._line_start(item.start)
        if not self.text[start : item.start].strip():
            start = self._dash_above(start, item.column)
        return start, self._line_end(item.end), ""

    def _dash_above(self, at: int, column: int) -> int:
        """The start of the line holding the dash of the item whose content starts the
        line at `at`, at `column` (`at` itself when there is none above)."""
        end = at
        while end > 0:
            begin = self._line_start(end - 1)
            line = self.text[begin : end - 1]
            if _DASH_LINE.fullmatch(line) and line.index("-") < column:
                return begin
            if line.strip() and not line.lstrip().startswith("#"):
                return at
            end = begin
        return at

    def _line_start(self, at: int) -> int:
        return self.text.rfind("\n", 0, at) + 1

    def _line_end(self, at: int) -> int:
        """Just after the line break that ends the line `at` is on (the end of the text).
        A span that ends in a block scalar holds its line break already: `at` is there."""
        if at and self.text[at - 1] == "\n":
            return at
        found = self.text.find("\n", at)
        return found + 1 if found >= 0 else len(self.text)

    def append(self, data: dict[str, Any]) -> None:
        """A new item, written at the end of the list in the list's style. It is copied
        as plain data first: a value read from an edited item is one of ruamel's string
        subclasses, which no other dumper knows."""
        self._added.append(json.loads(json.dumps(data)))

    def _added_text(self, kept: bool) -> tuple[int, str]:
        """Where the new items go, and their text; `kept`: whether any item is left."""
        if self.mode == "stream":
            ended = not self.text or self.text.endswith("\n")
            documents = "".join("---\n" + _block(data) for data in self._added)
            return len(self.text), ("" if ended else "\n") + documents
        if not self.items:
            raise FieldError("a ResourceList without items cannot be given new ones")
        last = self.items[-1]
        if self.parsed.items_flow:
            elements = [to_json(data) for data in self._added]
            return last.end, "".join(
                (", " if kept or i else "") + e for i, e in enumerate(elements)
            )
        # The dash and the indentation of the list's last item, as it wrote them; the new
        # items go on the lines after its own.
        prefix = self.text[self._line_start(last.start) : last.start]
        if prefix.strip() != "-":  # the dash was on a line of its own: write `- ` there
            prefix = " " * max(len(prefix) - 2, 0) + "- "
        first, indent = prefix, " " * len(prefix)
        out = []
        for data in self._added:
            lines = _block(data).rstrip("\n").split("\n")
            out.append(first + lines[0] + "".join("\n" + indent + x for x in lines[1:]) + "\n")
        at = self._after_own_comments(self._line_end(last.end), last.column)
        if not self.text.endswith("\n") and at == len(self.text):
            return at, "\n" + "".join(out).rstrip("\n")
        return at, "".join(out)

    def _after_own_comments(self, at: int, column: int) -> int:
        """Past the comment lines after an item that are indented as its content (and
        blank lines between them): they belong to it, and new items go after them."""
        end = at
        while at < len(self.text):
            found = self.text.find("\n", at)
            line_end = found + 1 if found >= 0 else len(self.text)
            line = self.text[at:line_end].rstrip("\r\n")
            if line.strip() and not (
                line.lstrip().startswith("#") and len(line) - len(line.lstrip()) >= column
            ):
                break
            if line.strip():
                end = line_end
            at = line_end
        return end

    def _plan(self, results: list[Result]) -> list[tuple[int, int, str]]:
        """Every change to the input text, in order: (start, end, the text for it)."""
        edits = [e for p, e in self._edits.items() if p not in self._dropped]
        edits += self._drops()
        if self._added:
            at, added = self._added_text(len(self.items) > len(self._dropped))
            edits.append((at, at, added))
        edits.sort(key=lambda edit: (edit[0], edit[1]))
        if self.mode == "resourcelist" and results:
            edits.append(self._results_edit(results, edits))
            edits.sort(key=lambda edit: (edit[0], edit[1]))
        return edits

    def render(self, results: list[Result], source: str | None = None) -> str:
        """The output text: the input with edited items spliced in, results appended.
        Untouched text is cut from `source` when given: the input as it came, where the
        document's text differs from it (a lone CR read as LF) but has its positions."""
        text = source if source is not None else self.text
        pieces: list[str] = []
        cursor = 0
        for start, end, new in self._plan(results):
            pieces += (text[cursor:start], new)
            cursor = end
        pieces.append(text[cursor:])
        # One join: a list of thousands of items is copied once, not once per step.
        return "".join(pieces)

    def write(self, results: list[Result], raw: bytes) -> bytes:
        """The output as bytes, the document's last use: it lets go of its items before
        the output is joined, and copies the untouched text straight from `raw` where
        characters are bytes (ASCII input), so a large list is not held three times."""
        if len(raw) != len(self.text):
            source = _decoded(raw) if b"\r" in raw else None
            return self.render(results, source).encode()
        plan = self._plan(results)
        self.items = []
        view = memoryview(raw)
        pieces: list[bytes | memoryview] = []
        cursor = 0
        for start, end, new in plan:
            pieces += (view[cursor:start], new.encode())
            cursor = end
        pieces.append(view[cursor:])
        return b"".join(pieces)

    def _ends_line(self, at: int, edits: list[tuple[int, int, str]]) -> bool:
        """Whether the output ends a line just before input position `at`."""
        for start, end, new in reversed(edits):
            if end == at and (new or start < end):
                return not new or new.endswith("\n")
            if end < at:
                break
        return at == 0 or self.text[at - 1] == "\n"

    def _results_edit(
        self, results: list[Result], edits: list[tuple[int, int, str]]
    ) -> tuple[int, int, str]:
        """Where the results go: a new `results` key after the root's last value, or
        after the results already there."""
        parsed = self.parsed
        wire = [r.to_wire() for r in results]
        existing = parsed.results
        if parsed.root_flow and existing is None:
            # After the last value itself: a comment line may follow it before the `}`.
            at = parsed.last_value_end
            return at, at, f', "results": {to_json(wire)}'
        if existing is None:
            # At the end of the root's content: before a document end marker (`...`).
            at = parsed.root_close
            ended = self._ends_line(at, edits)
            return at, at, ("" if ended else "\n") + _block({"results": wire})
        if existing.kind == "sequence" and not existing.flow and existing.end > existing.start:
            lines = _block(wire).splitlines(keepends=True)
            indented = "".join(" " * existing.column + line for line in lines)
            at = existing.end
            if self.text[at - 1] == "\n":  # the last result ends in a block scalar
                return at, at, indented
            for brk in ("\n", "\r\n"):
                if self.text.startswith(brk, at):
                    # After the last result's own line break, which stays as it was written
                    # (a lone CR in a file of CRLF is read as LF; a file that mixes LF and
                    # CRLF keeps its CRLF).
                    return at + len(brk), at + len(brk), indented
            return at, at, "\n" + indented.rstrip("\n")
        if parsed.results_last_end is not None:
            # A flow list with results in it: the new ones go after its last element,
            # before the comma, comment or bracket that follows it.
            at = parsed.results_last_end
            return at, at, "".join(", " + to_json(result) for result in wire)
        # An empty, null or flow `results`: its value becomes one flow (JSON) list.
        merged = to_json(self.prior_results + wire)
        prefix = " " if existing.start == existing.end and not parsed.root_flow else ""
        return existing.start, existing.end, prefix + merged


class _Dumper(yaml.CSafeDumper):
    """Writes a multi-line string as a literal block, as a person would."""


def _text(dumper: _Dumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def _block(data: Any) -> str:
    out = yaml.dump(
        data,
        Dumper=_Dumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=1 << 30,
    )
    # After a keep-chomped block scalar (`|+`) anywhere, PyYAML ends the document with
    # `...`. The text is spliced into a document that goes on (a list, the results before
    # the input's own `...`), where the next line or the end ends the scalar as well.
    return out[: -len("...\n")] if out.endswith("\n...\n") else out


def decode(raw: bytes) -> str:
    if len(raw) > MAX_INPUT_BYTES:
        raise FieldError(
            f"input is {len(raw)} bytes; the limit is {MAX_INPUT_BYTES} bytes (64 MiB)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FieldError(f"input is not UTF-8: byte {exc.start} is invalid") from None
    # A BOM is dropped, and a second one: libyaml skips the first BOM of its input
    # without counting it in its marks, so one left would put every position off by one.
    text = text.lstrip("\ufeff")
    # YAML reads CR LF and a lone CR as line breaks; the function works on LF alone, and
    # the writer gives a file written with CRLF (or CR) alone its own back. In a file that
    # mixes them, CRLF stays and a lone CR is read as LF, one character for one, so that
    # every position holds and `Document.write` gives untouched text its own bytes back.
    if "\r" not in text:
        return text
    crlf, lf = text.count("\r\n"), text.count("\n")
    if crlf == lf == text.count("\r"):
        return text.replace("\r\n", "\n")
    return text.replace("\r", "\n") if lf == 0 else _LONE_CR.sub("\n", text)


def _decoded(raw: bytes) -> str:
    """The input's text before `decode` read its lone CRs as LF (of the same length)."""
    return raw.decode("utf-8").lstrip("\ufeff")


# A line with nothing but a block list's dash, and maybe a comment after it.
_DASH_LINE = re.compile(r" *- *(#.*)?")


def _value(text: str, span: Span | None, what: str) -> Any:
    if span is None:
        return None
    try:
        return construct(compose(text, span))
    except FieldError as exc:
        raise FieldError(f"{what} cannot be read: {exc.message}") from None


def read_document(text: str, mode: Mode, fields: FieldSpec = BASE_FIELDS) -> Document:
    """The document, each item with the fields `fields` asks for (besides the base ones)."""

    def make(position: int, span: Span, kept: Fields, flow: bool, refs: Anchors) -> Item:
        return Item(position, text, span, kept, flow, refs)

    if mode == "stream":
        parsed = read_stream(text, fields, make)
        items: list[Item] = parsed.items
        parsed.items = []  # the document holds them
        return Document(text, mode, items, parsed)
    parsed = read_resource_list(text, fields, make)
    if parsed.kind not in ("ResourceList", "List"):
        shown = f"kind {parsed.kind!r}" if parsed.kind else "no kind"
        raise FieldError(f"input has {shown}; expected kind ResourceList (or List)")
    items = parsed.items
    parsed.items = []
    doc = Document(text, mode, items, parsed)
    prior = _value(text, parsed.results, "results")
    doc.prior_results = prior if isinstance(prior, list) else []
    doc.function_config = _value(text, parsed.function_config, "functionConfig")
    return doc
