"""`krmfn diff`: what a run would change, for a person to read before committing.

The preview is made from a run's input and its `Outcome`: a unified diff of each item that
changed (input against output), then the run's results, one line each. Items are read with
krmfn's own reader (`krmfn.krm.read_document`), which knows each item's identity and its
span in the text: the diff shows each item's own text as it is written, comments and
quoting included, never a re-serialisation. An item's first line is given its indentation
back and the item's own column is taken off every line, so an item of a ResourceList's
block list reads as a document of its own.

Items are paired by identity (apiVersion, kind, namespace, name), in output order: an item
of the output without a partner is new (shown all added, a prefetch Job say), an item of
the input without one was dropped (shown all removed, after the rest); an unchanged item
is not shown. Colour is applied last, to lines that know what they are, never guessed
from their text.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Literal, NamedTuple

from krmfn.krm.document import Item, Mode, decode, read_document
from krmfn.krm.errors import FieldError
from krmfn.krm.results import Result, Severity
from krmfn.krm.run import Outcome

Colour = Literal["auto", "always", "never"]
COLOURS: tuple[Colour, ...] = ("auto", "always", "never")

Kind = Literal["header", "hunk", "removed", "added", "context", "error", "warning", "info"]

# SGR sequences, as git paints a diff.
_RESET = "\x1b[0m"
_PAINT: dict[Kind, str] = {
    "header": "\x1b[1m",  # bold
    "hunk": "\x1b[36m",  # cyan
    "removed": "\x1b[31m",  # red
    "added": "\x1b[32m",  # green
    "error": "\x1b[31m",  # red
    "warning": "\x1b[33m",  # yellow
}
_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
_NO_FILE = "/dev/null"


class Line(NamedTuple):
    kind: Kind
    text: str


class Preview(NamedTuple):
    lines: list[Line]
    changed: bool  # an item was changed, added or dropped
    failed: bool  # an error result: exit status 1

    def render(self, colour: bool) -> str:
        """The preview as text, each line painted by its kind when `colour` is on."""
        return "".join(_painted(line, colour) + "\n" for line in self.lines)


class Entry(NamedTuple):
    """An item as the preview knows it: who it is, what to call it, and its text."""

    identity: tuple[str, str, str, str]
    label: str
    text: str


def wants_colour(choice: Colour, is_tty: bool, environ: Mapping[str, str]) -> bool:
    """`always` and `never` say so; `auto` colours a terminal unless NO_COLOR is set to
    something (https://no-color.org: an empty NO_COLOR counts as unset)."""
    if choice == "auto":
        return is_tty and not environ.get("NO_COLOR")
    return choice == "always"


def preview(raw: bytes, mode: Mode, outcome: Outcome) -> Preview:
    """What the run that turned `raw` into `outcome` changed: item diffs, then results."""
    try:
        pairs = pair_items(entries(raw, mode), entries(outcome.output, mode))
    except FieldError:
        # The input cannot be read: the run changed nothing, and its error says why.
        pairs = []
    diff = [line for old, new in pairs for line in item_diff(old, new)]
    return Preview(diff + result_lines(outcome.results), bool(diff), outcome.failed)


def entries(raw: bytes, mode: Mode) -> list[Entry]:
    """The items of a ResourceList or stream. Raises FieldError when it cannot be read."""
    document = read_document(decode(raw), mode)
    return [Entry(_identity(item), _label(item, mode), own_text(item)) for item in document.items]


def _identity(item: Item) -> tuple[str, str, str, str]:
    return (item.api_version, item.kind, item.namespace, item.name)


def _label(item: Item, mode: Mode) -> str:
    """`apps/v1/Deployment/serving/opt-decode`; an item without a kind or a name is
    named by its place in the list."""
    if item.kind or item.name:
        return str(item.ref)
    return f"document-{item.position}" if mode == "stream" else f"items[{item.position}]"


def own_text(item: Item) -> str:
    """The item's text as it is written, as if it started at column 0: without the
    line break that ends its last line."""
    source = item.source.removesuffix("\n")
    first, *rest = source.split("\n")
    margin = " " * item.column
    return "\n".join([first, *(line.removeprefix(margin) for line in rest)])


def pair_items(before: list[Entry], after: list[Entry]) -> list[tuple[Entry | None, Entry | None]]:
    """Each output item with the input item of the same identity (the first not yet
    taken), in output order; then the input items nothing took."""
    waiting: dict[tuple[str, str, str, str], list[int]] = {}
    for index, entry in enumerate(before):
        waiting.setdefault(entry.identity, []).append(index)
    taken: set[int] = set()
    pairs: list[tuple[Entry | None, Entry | None]] = []
    for entry in after:
        candidates = waiting.get(entry.identity)
        if candidates:
            index = candidates.pop(0)
            taken.add(index)
            pairs.append((before[index], entry))
        else:
            pairs.append((None, entry))
    pairs += [(entry, None) for index, entry in enumerate(before) if index not in taken]
    return pairs


def item_diff(old: Entry | None, new: Entry | None) -> list[Line]:
    """A unified diff of one item (none when its text is the same), its header naming
    it as git does: `a/<item>` and `b/<item>`, /dev/null for a side it is missing from."""
    old_text = old.text if old is not None else None
    new_text = new.text if new is not None else None
    if old_text == new_text:
        return []
    diff = difflib.unified_diff(
        _lines(old_text),
        _lines(new_text),
        fromfile=f"a/{old.label}" if old is not None else _NO_FILE,
        tofile=f"b/{new.label}" if new is not None else _NO_FILE,
        lineterm="",
    )
    return [Line(_diff_kind(index, text), text) for index, text in enumerate(diff)]


def _lines(text: str | None) -> list[str]:
    return [] if text is None else text.split("\n")


def _diff_kind(index: int, text: str) -> Kind:
    """What a line of `difflib.unified_diff` is: its first two lines are the header, and
    every later line starts with `@@` (a hunk's header) or its hunk's mark."""
    if index < 2:
        return "header"
    if text.startswith("@@"):
        return "hunk"
    if text.startswith("-"):
        return "removed"
    return "added" if text.startswith("+") else "context"


def result_lines(results: Iterable[Result]) -> list[Line]:
    """Each result as krmfn prints it on stderr, errors first, then warnings, then the
    information results (which krmfn's stderr leaves out)."""
    ordered = sorted(results, key=lambda result: _SEVERITY_ORDER[result.severity])
    return [Line(_severity_kind(r.severity), r.human().replace("\n", " ")) for r in ordered]


def _severity_kind(severity: Severity) -> Kind:
    if severity is Severity.ERROR:
        return "error"
    return "warning" if severity is Severity.WARNING else "info"


def _painted(line: Line, colour: bool) -> str:
    paint = _PAINT.get(line.kind) if colour else None
    return f"{paint}{line.text}{_RESET}" if paint else line.text
