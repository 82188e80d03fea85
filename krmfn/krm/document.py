"""Reading a ResourceList (or a plain YAML stream) and writing it back.

libyaml composes the input into nodes that carry their character offsets. Each item
is then known by its span in the original text; an item nobody edits is written back
as exactly those characters, and an edited one is spliced in at its span. Nothing is
re-serialised that was not changed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from krmfn.krm.results import ResourceRef, Result

Mode = Literal["resourcelist", "stream"]

# Limits that keep a hostile input from exhausting memory, time or the C stack.
MAX_INPUT_BYTES = 64 * 1024 * 1024
# libyaml's composer recurses in C: far deeper nesting than this overflows the stack.
MAX_NESTING = 10_000
# Items the function reads or edits are walked in Python: bound their depth and their size
# with every alias expanded (an "alias bomb" is small text with a huge expansion).
MAX_ITEM_DEPTH = 100
MAX_ITEM_NODES = 200_000

_TRAILING_COMMENT = re.compile(r"[ \t]+#[^\n]*")
_SEPARATOR = re.compile(r"^---(?=[ \t\n]|$)", re.MULTILINE)
_PATH_ANNOTATIONS = ("internal.config.kubernetes.io/path", "config.kubernetes.io/path")
_INDEX_ANNOTATIONS = ("internal.config.kubernetes.io/index", "config.kubernetes.io/index")


class InputError(Exception):
    """The input is not something the function can read; nothing can be processed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _scalar(node: Node | None) -> str:
    if isinstance(node, ScalarNode):
        return str(node.value)
    return ""


def _mapping_get(node: Node | None, key: str) -> Node | None:
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.value == key:
                found: Node = v
                return found
    return None


def _string_map(node: Node | None) -> dict[str, str]:
    if not isinstance(node, MappingNode):
        return {}
    return {
        str(k.value): str(v.value)
        for k, v in node.value
        if isinstance(k, ScalarNode) and isinstance(v, ScalarNode)
    }


def _last_leaf(node: Node) -> Node | None:
    """The node written last inside a block collection; None when that is an alias,
    whose marks are those of its anchor, somewhere earlier in the text."""
    while True:
        if isinstance(node, MappingNode) and not node.flow_style and node.value:
            child = node.value[-1][1]
        elif isinstance(node, SequenceNode) and not node.flow_style and node.value:
            child = node.value[-1]
        else:
            return node
        if child.start_mark.index <= node.start_mark.index:
            return None
        node = child


def _trimmed_end(node: Node, text: str) -> int:
    """The end mark, moved back over the blank and comment lines that follow the content."""
    end: int = node.end_mark.index
    while True:
        line_start = text.rfind("\n", node.start_mark.index, end - 1) + 1
        line = text[line_start:end].strip()
        if line_start <= node.start_mark.index or (line and not line.startswith("#")):
            return end if not text[:end].endswith("\n") else end - 1
        end = line_start


def _content_end(node: Node, text: str) -> int:
    """End of the node's own text: a block collection's end mark lies past trailing
    comments that belong to whatever follows, so find the end of its last leaf instead,
    keeping a comment on that leaf's line."""
    leaf = _last_leaf(node)
    if leaf is None:
        return _trimmed_end(node, text)
    end: int = leaf.end_mark.index
    if isinstance(leaf, ScalarNode) and leaf.style in ("|", ">"):
        header = text[leaf.start_mark.index : text.find("\n", leaf.start_mark.index)]
        if "+" in header:
            return end
        end = len(text[:end].rstrip()) + 1
        return min(end, len(text))
    match = _TRAILING_COMMENT.match(text, end)
    if match and "\n" not in match.group(0):
        end = match.end()
    return end


@dataclass
class Item:
    """One resource: where it is in the text and the few fields used to find it."""

    position: int
    node: Node
    start: int
    end: int
    column: int
    in_flow: bool
    api_version: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    owner_references: list[dict[str, str]] = field(default_factory=list)
    template_labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_node(cls, position: int, node: Node, text: str, in_flow: bool) -> Item:
        start = node.start_mark.index
        item = cls(
            position=position,
            node=node,
            start=start,
            end=_content_end(node, text) if isinstance(node, MappingNode) else node.end_mark.index,
            column=node.start_mark.column,
            in_flow=in_flow,
        )
        if isinstance(node, MappingNode):
            item.api_version = _scalar(_mapping_get(node, "apiVersion"))
            item.kind = _scalar(_mapping_get(node, "kind"))
            metadata = _mapping_get(node, "metadata")
            item.name = _scalar(_mapping_get(metadata, "name"))
            item.namespace = _scalar(_mapping_get(metadata, "namespace"))
            item.labels = _string_map(_mapping_get(metadata, "labels"))
            item.annotations = _string_map(_mapping_get(metadata, "annotations"))
            refs = _mapping_get(metadata, "ownerReferences")
            if isinstance(refs, SequenceNode):
                item.owner_references = [_string_map(ref) for ref in refs.value]
            template = _mapping_get(_mapping_get(node, "spec"), "template")
            if template is not None:
                item.template_labels = _string_map(
                    _mapping_get(_mapping_get(template, "metadata"), "labels")
                )
        return item

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.node, MappingNode)

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
        Raises InputError when the item is beyond the limits (see `check_size`)."""
        return construct(self.node)


def check_size(node: Node) -> None:
    """Refuse a node that is nested too deep, expands (through aliases) to too many nodes,
    or refers to itself, before anything walks it in Python."""
    memo: dict[int, tuple[int, int]] = {}  # id -> (expanded nodes, height)
    on_path: set[int] = set()

    def measure(current: Node, depth: int) -> tuple[int, int]:
        key = id(current)
        if key in on_path:
            raise InputError("it refers to itself through a YAML alias")
        found = memo.get(key)
        if found is None:
            on_path.add(key)
            if isinstance(current, MappingNode):
                children = [n for pair in current.value for n in pair]
            elif isinstance(current, SequenceNode):
                children = list(current.value)
            else:
                children = []
            if depth + 1 > MAX_ITEM_DEPTH and children:
                raise InputError(f"it is nested deeper than {MAX_ITEM_DEPTH} levels")
            total, height = 1, 0
            for child in children:
                size, child_height = measure(child, depth + 1)
                total, height = total + size, max(height, child_height + 1)
                if total > MAX_ITEM_NODES:
                    raise InputError(
                        f"it expands to more than {MAX_ITEM_NODES} YAML nodes (through aliases)"
                    )
            on_path.discard(key)
            found = memo[key] = (total, height)
        if depth + found[1] > MAX_ITEM_DEPTH:
            raise InputError(f"it is nested deeper than {MAX_ITEM_DEPTH} levels")
        return found

    measure(node, 0)


def construct(node: Node) -> Any:
    check_size(node)
    loader = yaml.CSafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


@dataclass
class Document:
    text: str
    mode: Mode
    items: list[Item]
    root: MappingNode | None = None
    function_config: Any = None
    prior_results: list[Any] = field(default_factory=list)
    _edits: dict[int, tuple[int, int, str]] = field(default_factory=dict)

    def source(self, item: Item) -> str:
        return self.text[item.start : item.end]

    def replace(self, item: Item, new_text: str) -> None:
        self._edits[item.position] = (item.start, item.end, new_text)

    def drop(self, item: Item) -> None:
        """Leave a document of a stream out of the output, with its `---` line and the
        comments before its content (Helm's `# Source:` line)."""
        assert self.mode == "stream"
        before = self.items[item.position - 1].end if item.position else 0
        separators = list(_SEPARATOR.finditer(self.text, before, item.start))
        start = separators[-1].start() if separators else before
        end = len(self.text)
        if item.position + 1 < len(self.items):
            following = self.items[item.position + 1]
            found = _SEPARATOR.search(self.text, item.end, following.start)
            end = found.start() if found else following.start
        self._edits[item.position] = (start, end, "")

    @property
    def edited(self) -> int:
        return len(self._edits)

    def render(self, results: list[Result]) -> str:
        """The output text: the input with edited items spliced in, results appended."""
        pieces: list[str] = []
        cursor = 0
        for item in self.items:
            edit = self._edits.get(item.position)
            if edit is None:
                continue
            start, end, new = edit
            pieces.append(self.text[cursor:start])
            pieces.append(new)
            cursor = end
        tail = self.text[cursor:]
        if self.mode == "resourcelist" and results:
            pieces.append(self._with_results(tail, cursor, results))
        else:
            pieces.append(tail)
        return "".join(pieces)

    def _with_results(self, tail: str, cursor: int, results: list[Result]) -> str:
        assert self.root is not None
        wire = [r.to_wire() for r in results]
        existing = None
        for key, value in self.root.value:
            if isinstance(key, ScalarNode) and key.value == "results":
                existing = value
        if self.root.flow_style:
            return self._flow_results(tail, cursor, existing, wire)
        if existing is None:
            block = yaml.dump(
                {"results": wire},
                Dumper=yaml.CSafeDumper,
                default_flow_style=False,
                sort_keys=False,
                allow_unicode=True,
                width=1 << 30,
            )
            sep = "" if not tail or tail.endswith("\n") else "\n"
            if not tail and self.text and not self.text.endswith("\n"):
                sep = "\n"
            return tail + sep + block
        if isinstance(existing, SequenceNode) and not existing.flow_style and existing.value:
            column = existing.start_mark.column
            block = yaml.dump(
                wire,
                Dumper=yaml.CSafeDumper,
                default_flow_style=False,
                sort_keys=False,
                allow_unicode=True,
                width=1 << 30,
            )
            indented = "".join(" " * column + line for line in block.splitlines(keepends=True))
            at = _content_end(existing, self.text) - cursor
            return tail[:at] + "\n" + indented.rstrip("\n") + tail[at:]
        # An empty, null or flow `results`: replace its value with one flow list.
        merged = self.prior_results + wire
        start, end = existing.start_mark.index - cursor, existing.end_mark.index - cursor
        prefix = " " if start == end else ""
        return tail[:start] + prefix + json.dumps(merged, ensure_ascii=False) + tail[end:]

    def _flow_results(
        self, tail: str, cursor: int, existing: Node | None, wire: list[dict[str, Any]]
    ) -> str:
        assert self.root is not None
        if existing is None:
            close = self.root.end_mark.index - 1 - cursor
            body = json.dumps(wire, ensure_ascii=False)
            return tail[:close].rstrip() + f', "results": {body}' + tail[close:]
        merged = self.prior_results + wire
        start, end = existing.start_mark.index - cursor, existing.end_mark.index - cursor
        return tail[:start] + json.dumps(merged, ensure_ascii=False) + tail[end:]


def decode(raw: bytes) -> str:
    if len(raw) > MAX_INPUT_BYTES:
        raise InputError(
            f"input is {len(raw)} bytes; the limit is {MAX_INPUT_BYTES} bytes (64 MiB)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"input is not UTF-8: byte {exc.start} is invalid") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n")


def _compose_error(exc: yaml.YAMLError) -> InputError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return InputError(f"input is not valid YAML{where}: {problem}")


def _check_nesting(text: str) -> None:
    """libyaml's composer would overflow the C stack (a crash, not an error) on nesting
    far deeper than any manifest has. Flow nesting needs a bracket per level and block
    nesting a column per level, so only inputs with many brackets or very long lines
    need the exact check, made on parser events, which do not recurse."""
    brackets = text.count("[") + text.count("{")
    if brackets <= MAX_NESTING and max(map(len, text.split("\n"))) <= MAX_NESTING:
        return
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_NESTING:
                    mark = event.start_mark
                    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
                    raise InputError(
                        f"input nests collections deeper than {MAX_NESTING} levels{where}"
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        raise _compose_error(exc) from None


def read_document(text: str, mode: Mode) -> Document:
    _check_nesting(text)
    loader = yaml.CSafeLoader(text)
    try:
        if mode == "stream":
            nodes: list[Node] = []
            while loader.check_node():
                node = loader.get_node()
                if node is not None:
                    nodes.append(node)
            documents = [Item.from_node(i, n, text, in_flow=False) for i, n in enumerate(nodes)]
            return Document(text=text, mode=mode, items=documents)
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise _compose_error(exc) from None
    finally:
        loader.dispose()
    if root is None:
        raise InputError("input is empty: expected a ResourceList")
    if not isinstance(root, MappingNode):
        raise InputError(f"input is a YAML {_node_kind(root)}, not a ResourceList")
    kind = _scalar(_mapping_get(root, "kind"))
    if kind not in ("ResourceList", "List"):
        shown = f"kind {kind!r}" if kind else "no kind"
        raise InputError(f"input has {shown}; expected kind ResourceList (or List)")
    items_node = _mapping_get(root, "items")
    items: list[Item] = []
    if isinstance(items_node, SequenceNode):
        in_flow = bool(items_node.flow_style)
        items = [Item.from_node(i, n, text, in_flow) for i, n in enumerate(items_node.value)]
    elif items_node is not None and not (
        isinstance(items_node, ScalarNode) and items_node.tag.endswith(":null")
    ):
        raise InputError(f"ResourceList items is a YAML {_node_kind(items_node)}, not a list")
    doc = Document(text=text, mode=mode, items=items, root=root)
    results_node = _mapping_get(root, "results")
    if results_node is not None:
        try:
            prior = construct(results_node)
        except InputError as exc:
            raise InputError(f"results cannot be read: {exc.message}") from None
        doc.prior_results = prior if isinstance(prior, list) else []
    config_node = _mapping_get(root, "functionConfig")
    if config_node is not None:
        try:
            doc.function_config = construct(config_node)
        except InputError as exc:
            raise InputError(f"functionConfig cannot be read: {exc.message}") from None
    return doc


def _node_kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "mapping"
    if isinstance(node, SequenceNode):
        return "sequence"
    return "scalar"
