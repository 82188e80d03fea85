"""The KRM contract, checked on one input: `violations(FuzzInput)` runs the real function
in-process (twice: the second time on its own output) and returns what broke, each as a
`Violation` whose `code` says which rule and whose `detail` says where.

1. no traceback and no unexpected exception (an error result with exit status 1 is fine;
   krmfn's own `internal error:` result counts as an unexpected exception);
2. every input item is in the output: the (apiVersion, kind, namespace, name) multiset,
   leaving out items annotated `krmfn.llm-d.ai/generated-by` (krmfn adds and drops those)
   and, in `--stream` mode, local-config documents (dropped on purpose);
3. items the function may not edit (anything but the four workload kinds), the
   functionConfig and earlier results come back byte for byte;
4. the output is YAML (libyaml's compose_all and ruamel's round-trip loader) whenever the
   input was, for each reader separately;
5. idempotent: the output, less the results this run appended, gives the same bytes (and
   the same status and stderr) again;
6. edited workloads and generated items pass the API server's checks of tests/test_schema.py
   (no duplicate container, volume or env names or mount paths, mounts name volumes, a
   Deployment's or StatefulSet's selector selects its template) unless the input already
   failed the same check;
7. each run finishes within `time_limit` (10 s for inputs under 100 KB).

Reproduce a saved input by hand:

    python -m tests.fuzz.contract FILE [--stream] [--config CONFIG_FILE] [--minimize CODE]
"""

from __future__ import annotations

import argparse
import difflib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import yaml
from ruamel.yaml import YAML
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from krmfn.krm.results import Severity
from krmfn.krm.run import run as run_krm
from krmfn.processor import ModelArtifactsFunction
from tests.golden import ROOT
from tests.test_schema import api_server_errors, pod_specs, selector_errors

EDITABLE_KINDS = frozenset(
    {"Deployment", "StatefulSet", "LeaderWorkerSet", "DisaggregatedSet", "PodCliqueSet"}
)
GENERATED_BY = "krmfn.llm-d.ai/generated-by"
LOCAL_CONFIG = "config.kubernetes.io/local-config"
# The one-shot warning of an item written without its comments (docs/limits.md, Limits and
# safety): the rerun has no comments left to drop, so its results differ on purpose.
COMMENTS_DROPPED = "its comments could not be kept"
# The info result of a record taken back from a workload its ModelService no longer
# targets (docs/config.md): the rerun has nothing left to take back.
TOOK_BACK = b"no longer targets it: took back what it applied"
# A run past this is stopped (in the main thread), so a hang is a violation, not a stuck CI.
HANG_SECONDS = 30.0
BOM = "\ufeff".encode()


def time_limit(size: int) -> float:
    """Seconds one run may take: 10 s up to 100 KB, proportionally more past that."""
    return 10.0 * max(1.0, size / 100_000)


@dataclass(frozen=True)
class FuzzInput:
    data: bytes
    stream: bool = False  # `krmfn --stream`: a plain multi-document stream
    config: str | None = None  # the `--config` file's text (stream mode only)
    origin: str = ""  # where it came from: a fixture, a generator, the mutations applied

    def command(self) -> str:
        args = ["python -m krmfn"]
        if self.stream:
            args.append("--stream")
            if self.config is not None:
                args.append("--config CONFIG")
        return " ".join(args)


@dataclass(frozen=True)
class Violation:
    code: str  # which rule broke, stable across inputs: a long run reports each code once
    detail: str

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


@dataclass(frozen=True)
class RunResult:
    output: bytes
    stderr: tuple[str, ...]
    failed: bool
    errors: tuple[str, ...]  # the messages of error results
    seconds: float
    crash: str | None = None  # the traceback of an exception that escaped `run`


class _Hang(BaseException):
    """Raised by the timer: a BaseException, so krmfn's `except Exception` cannot hide it."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Hang


def run_function(inp: FuzzInput, data: bytes | None = None) -> RunResult:
    """krmfn on `data` (default: the input's), in-process, as `python -m krmfn` runs it."""
    data = inp.data if data is None else data
    mode = "stream" if inp.stream else "resourcelist"
    timer = threading.current_thread() is threading.main_thread()
    if timer:
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    start = time.perf_counter()
    try:
        outcome = run_krm(ModelArtifactsFunction(), data, mode, inp.config if inp.stream else None)
    except _Hang:
        return RunResult(b"", (), True, (), time.perf_counter() - start, "hang")
    except Exception:
        return RunResult(b"", (), True, (), time.perf_counter() - start, traceback.format_exc())
    finally:
        if timer:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    seconds = time.perf_counter() - start
    errors = tuple(r.message for r in outcome.results if r.severity is Severity.ERROR)
    return RunResult(outcome.output, tuple(outcome.stderr), outcome.failed, errors, seconds)


# Reading inputs and outputs the way kubectl would, without building objects that may not
# build (a `!custom` tag, an int that is not one) ---------------------------------------


def decode(data: bytes) -> str | None:
    try:
        # Every leading BOM, as krmfn drops them (libyaml skips one without counting it).
        return data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        return None


class _AnchorsAgain(yaml.SafeLoader):
    """YAML allows an anchor to be given again (an alias then means the latest one);
    libyaml's composer refuses it, so such lists are read by this one, slower."""

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        if not isinstance(event, yaml.AliasEvent) and getattr(event, "anchor", None):
            self.anchors.pop(event.anchor, None)  # type: ignore[attr-defined]
        return super().compose_node(parent, index)  # type: ignore[no-any-return]


def compose_all(text: str) -> list[Node] | None:
    try:
        return list(yaml.compose_all(text, Loader=yaml.CSafeLoader))
    except yaml.composer.ComposerError as exc:
        if "duplicate anchor" not in str(exc):
            return None
    except (yaml.YAMLError, RecursionError, ValueError):
        return None
    try:
        return list(yaml.compose_all(text, Loader=_AnchorsAgain))
    except (yaml.YAMLError, RecursionError, ValueError):
        return None


def ruamel_loads(text: str) -> str | None:
    """None if ruamel's round-trip loader reads every document, else why not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a reused anchor: YAML allows it
            for _ in YAML(typ="rt").load_all(text):
                pass
    except RecursionError:
        return "RecursionError"
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def get(node: Node | None, key: str) -> Node | None:
    """A mapping's value for a plain string key (the last one, as every reader takes)."""
    found = None
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.value == key:
                found = v
    return found


def construct(node: Node) -> Any:
    """The node as PyYAML builds it (YAML 1.1, as kubectl reads it); raises on a node that
    does not build."""
    constructor = SafeConstructor()
    data = constructor.construct_document(node)
    return data


def scalar(node: Node | None) -> str | None:
    if node is None:
        return None
    if not isinstance(node, ScalarNode):
        return f"<{type(node).__name__}>"
    try:
        value = construct(node)
    except Exception:
        return node.value
    return None if value is None else str(value)


@dataclass
class ItemView:
    key: tuple[str | None, ...]  # apiVersion, kind, namespace, name
    text: str  # the exact characters it spans
    node: Node
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str | None:
        return self.key[1]

    @property
    def generated(self) -> bool:
        return GENERATED_BY in self.annotations

    @property
    def local_config(self) -> bool:
        return self.annotations.get(LOCAL_CONFIG) == "true"

    def label(self) -> str:
        return "/".join(str(p) for p in self.key if p is not None) or self.text[:40]


def own_span(text: str, node: Node) -> str:
    """A node's text. A block collection at the end of the stream ends, in PyYAML's marks,
    after the comment lines that follow it; those are the file's, not the node's."""
    span = text[node.start_mark.index : node.end_mark.index]
    if isinstance(node, (MappingNode, SequenceNode)) and not node.flow_style:
        lines = span.split("\n")
        while len(lines) > 1 and (not lines[-1].strip() or lines[-1].lstrip().startswith("#")):
            lines.pop()
        span = "\n".join(lines)
    return span


def _view(text: str, node: Node) -> ItemView:
    metadata = get(node, "metadata")
    key = (
        scalar(get(node, "apiVersion")),
        scalar(get(node, "kind")),
        scalar(get(metadata, "namespace")),
        scalar(get(metadata, "name")),
    )
    if not isinstance(node, MappingNode):
        key = ("<non-mapping>", None, None, node.value if isinstance(node, ScalarNode) else None)
    annotations = {}
    found = get(metadata, "annotations")
    if isinstance(found, MappingNode):
        for k, v in found.value:
            if isinstance(k, ScalarNode):
                # A scalar's text, as kyaml reads annotations: an unquoted `true` is the
                # local-config "true" for kustomize and kpt (and krmfn).
                annotations[k.value] = v.value if isinstance(v, ScalarNode) else scalar(v) or ""
    return ItemView(key, own_span(text, node), node, annotations)


@dataclass
class Listing:
    items: list[ItemView]
    # Other spans that must come back as they are: the functionConfig, earlier results.
    kept: list[tuple[str, str]]


def listing(text: str, stream: bool) -> Listing | None:
    """The items of a ResourceList (or the documents of a stream), or None where the text
    is not one krmfn reads (it then writes the input back unchanged)."""
    docs = compose_all(text)
    if docs is None:
        return None
    if stream:
        items = [
            _view(text, d)
            for d in docs
            if not (isinstance(d, ScalarNode) and d.tag == "tag:yaml.org,2002:null")
        ]
        return Listing(items, [])
    if len(docs) != 1 or not isinstance(docs[0], MappingNode):
        return None
    root = docs[0]
    if scalar(get(root, "kind")) not in ("ResourceList", "List"):
        return None
    found = get(root, "items")
    if isinstance(found, SequenceNode):
        items = [_view(text, n) for n in found.value]
    elif found is None or (isinstance(found, ScalarNode) and found.value in ("", "null", "~")):
        items = []
    else:
        return None
    kept = []
    # A node an alias reaches again (results: *items) is one span of the text, kept once.
    seen = {id(n) for n in found.value} if isinstance(found, SequenceNode) else set()
    config = get(root, "functionConfig")
    if config is not None and id(config) not in seen:
        seen.add(id(config))
        kept.append(("functionConfig", text[config.start_mark.index : config.end_mark.index]))
    results = get(root, "results")
    if isinstance(results, SequenceNode):
        for index, node in enumerate(results.value):
            if id(node) not in seen:
                seen.add(id(node))
                kept.append((f"results[{index}]", own_span(text, node)))
    return Listing(items, kept)


# The rules -------------------------------------------------------------------------------


def _crash(where: str, run: RunResult) -> list[Violation]:
    out = []
    if run.crash == "hang":
        out.append(Violation("hang", f"{where}: still running after {HANG_SECONDS:.0f} s"))
    elif run.crash:
        last = run.crash.strip().splitlines()[-1]
        name = last.split(":", 1)[0]
        out.append(Violation(f"traceback:{name}", f"{where}: {run.crash.strip()}"))
    if run.crash:
        return out
    for message in run.errors:
        if message.startswith("internal error"):
            name = message.removeprefix("internal error: ").split(":", 1)[0]
            out.append(Violation(f"internal-error:{name}", f"{where}: {message}"))
    for line in run.stderr:
        if "Traceback" in line:
            out.append(Violation("traceback-in-stderr", f"{where}: {line}"))
    if run.failed != bool(run.errors):
        out.append(
            Violation("status", f"{where}: failed={run.failed} with {len(run.errors)} errors")
        )
    return out


def _identities(found: Listing, stream: bool) -> Counter[tuple[str | None, ...]]:
    return Counter(
        i.key for i in found.items if not i.generated and not (stream and i.local_config)
    )


def _items_kept(before: Listing, after: Listing | None, stream: bool) -> list[Violation]:
    if after is None:
        return [Violation("output-not-a-list", "the output is not a list of items krmfn reads")]
    out = []
    old, new = _identities(before, stream), _identities(after, stream)
    for key, count in (old - new).items():
        out.append(Violation("item-dropped", f"{key} x{count}"))
    for key, count in (new - old).items():
        out.append(Violation("item-added", f"{key} x{count}"))
    return out


def _untouched_identical(before: Listing, output: str, stream: bool) -> list[Violation]:
    needed: Counter[str] = Counter()
    labels: dict[str, tuple[str, str]] = {}  # span: (what it is, which)
    for item in before.items:
        if item.kind in EDITABLE_KINDS or item.generated or (stream and item.local_config):
            continue
        needed[item.text] += 1
        labels.setdefault(item.text, (str(item.kind), item.label()))
    for name, span in before.kept:
        needed[span] += 1
        labels.setdefault(span, (name.split("[")[0], name))
    out = []
    for span, count in needed.items():
        if output.count(span) < count:
            what, which = labels[span]
            detail = f"{which} no longer appears as it was: {span[:300]!r}"
            out.append(Violation(f"untouched-changed:{what}", detail))
    return out


def _valid_yaml(before: str, after: str | None, changed: list[ItemView] | None) -> list[Violation]:
    """`changed`: the output's items whose text is new, where the listing was read (ruamel
    reads those alone first: reading whole lists with it would take most of the time)."""
    if after is None:
        return [Violation("output-not-utf8", "the output is not UTF-8 text")]
    out = []
    if compose_all(before) is not None and compose_all(after) is None:
        try:
            list(yaml.compose_all(after, Loader=yaml.CSafeLoader))
            why = ""
        except Exception as exc:
            why = str(exc).replace("\n", " ")
        out.append(Violation("invalid-yaml:libyaml", why))
    if after == before:
        return out
    if changed is not None and all(ruamel_loads(_alone(i)) is None for i in changed):
        return out
    why = ruamel_loads(after)
    if why is not None and ruamel_loads(before) is None:
        out.append(Violation("invalid-yaml:ruamel", why))
    return out


def _alone(item: ItemView) -> str:
    """An item's text as a document of its own."""
    column = item.node.start_mark.column
    lines = item.text.split("\n")
    rest = [line[min(column, len(line) - len(line.lstrip(" "))) :] for line in lines[1:]]
    return "\n".join([lines[0], *rest]) + "\n"


_API_PHRASES = (
    "duplicate volume name",
    "duplicate container name",
    "duplicate mountPath",
    "does not exist",
    "duplicate env name",
    "both value and valueFrom",
)


def _api_errors(obj: Any) -> set[str] | None:
    """The API server checks of an object, or None where the checks cannot read it."""
    if not isinstance(obj, dict):
        return None
    try:
        errors = {e for where, pod in pod_specs(obj) for e in api_server_errors(where, pod)}
        errors |= {f"selector: {e}" for e in selector_errors(obj)}
    except Exception:
        return None
    return errors


def _built(node: Node) -> Any:
    try:
        return construct(node)
    except Exception:
        return None


def _api_valid(before: Listing, after: Listing) -> list[Violation]:
    sources: dict[tuple[str | None, ...], list[ItemView]] = {}
    for item in before.items:
        sources.setdefault(item.key, []).append(item)
    out = []
    for item in after.items:
        # Items keep their order: two of one identity (the input's own duplicate) pair up
        # in turn, each with the one it was made from.
        candidates = sources.get(item.key, [])
        made_from = candidates.pop(0) if candidates else None
        if item.kind not in EDITABLE_KINDS and not item.generated:
            continue
        if made_from is not None and made_from.text == item.text:
            continue  # not edited
        errors = _api_errors(_built(item.node))
        if not errors:
            continue
        source = _api_errors(_built(made_from.node)) if made_from is not None else set()
        if source is None:
            continue  # the input's workload is not one the checks can read
        if any(e.startswith("selector:") for e in source):
            # A selector that did not select the template before: the API server refused
            # this workload already, one failed expression more or less.
            errors = {e for e in errors if not e.startswith("selector:")}
        for error in sorted(errors - source):
            phrase = next((p for p in _API_PHRASES if p in error), "")
            code = "api:selector" if error.startswith("selector:") else f"api:{phrase}"
            out.append(Violation(code, f"{item.label()}: {error}"))
    return out


def _results_node(text: str) -> tuple[Node, Node, bool] | None:
    docs = compose_all(text)
    if not docs or not isinstance(docs[0], MappingNode):
        return None
    for key, value in docs[0].value:
        if isinstance(key, ScalarNode) and key.value == "results":
            return key, value, bool(docs[0].flow_style)
    return None


def rerun_input(inp: FuzzInput, output: bytes) -> bytes:
    """What the next step sends back (tests/test_golden.py's `rerun_input`): the output
    without the results this run appended; results that came in stay."""
    if inp.stream or output == inp.data:
        return output
    text, given = decode(output), decode(inp.data)
    if text is None or given is None:
        return output
    bom = "\ufeff" if output.startswith(BOM) else ""
    found = _results_node(text)
    if found is None:
        return output
    key, value, flow = found
    before = _results_node(given)
    if before is not None:
        prior = given[before[1].start_mark.index : before[1].end_mark.index]
        text = text[: value.start_mark.index] + prior + text[value.end_mark.index :]
        return (bom + text).encode()
    start, end = key.start_mark.index, value.end_mark.index
    if flow:
        start = text.rindex(",", 0, start)
        return (bom + text[:start] + text[end:]).encode()
    return (bom + text[:start] + text[end:]).encode()


def _without_results(data: bytes) -> bytes:
    text = decode(data)
    found = _results_node(text) if text is not None else None
    if text is None or found is None:
        return data
    text = text[: found[0].start_mark.index] + text[found[1].end_mark.index :]
    return (("\ufeff" if data.startswith(BOM) else "") + text).encode()


def _idempotent(inp: FuzzInput, first: RunResult, before: Listing | None) -> list[Violation]:
    second = run_function(inp, rerun_input(inp, first.output))
    out = _crash("second run", second)
    if second.crash:
        return out
    dropped_comments = any(COMMENTS_DROPPED in line for line in first.stderr)
    first_run_only = dropped_comments or TOOK_BACK in first.output
    # A stream's local-config ModelServices are gone from its output: the second run has
    # nothing to apply, so only the bytes must agree.
    local = inp.stream and before is not None and any(i.local_config for i in before.items)
    if first_run_only:
        same = _without_results(second.output) == _without_results(first.output)
    else:
        same = second.output == first.output
    if not same:
        out.append(Violation("not-idempotent:output", _first_difference(first, second)))
    elif not local and not dropped_comments and second.failed != first.failed:
        out.append(
            Violation("not-idempotent:status", f"failed={first.failed}, then {second.failed}")
        )
    elif not local and not dropped_comments and second.stderr != first.stderr:
        detail = f"stderr {list(first.stderr)!r}, then {list(second.stderr)!r}"
        out.append(Violation("not-idempotent:stderr", detail))
    return out


def _only_added(data: bytes, run: RunResult) -> bool:
    """Whether the output is the input with lines added (results) and nothing else."""
    if run.output == data:
        return True
    old, new = data.splitlines(), run.output.splitlines()
    ops = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    return all(tag in ("equal", "insert") for tag, *_ in ops)


def _first_difference(first: RunResult, second: RunResult) -> str:
    a = first.output.decode(errors="replace").splitlines()
    b = second.output.decode(errors="replace").splitlines()
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"line {index + 1}: {x!r}, then {y!r}"
    return f"{len(a)} lines, then {len(b)}"


def violations(inp: FuzzInput) -> list[Violation]:
    """Every rule of the contract on one input."""
    first = run_function(inp)
    out = _crash("first run", first)
    if first.crash:
        return out
    limit = time_limit(len(inp.data))
    if first.seconds > limit:
        out.append(Violation("slow", f"{first.seconds:.1f} s (limit {limit:.0f} s)"))
    given, written = decode(inp.data), decode(first.output)
    before = listing(given, inp.stream) if given is not None else None
    after = listing(written, inp.stream) if written is not None and before is not None else None
    if before is None:
        # Nothing krmfn can read: it comes back as it came (docs/limits.md, Limits and safety), or
        # with results added where krmfn could read the list but not an item (the whole
        # text is no YAML: an alias without its anchor, say).
        if (given is None or compose_all(given) is None) and not _only_added(inp.data, first):
            out.append(Violation("unreadable-changed", "unreadable input was not written back"))
    else:
        out += _items_kept(before, after, inp.stream)
        if written is not None:
            out += _untouched_identical(before, written, inp.stream)
        if after is not None:
            out += _api_valid(before, after)
    if given is not None:
        changed = None
        if before is not None and after is not None and written is not None:
            changed = [i for i in after.items if i.text not in given]
        out += _valid_yaml(given, written, changed)
    if given is None or compose_all(given) is not None:
        # Where the input is no YAML to libyaml, results cannot be told from items: the
        # next step could not take them off either.
        out += _idempotent(inp, first, before)
    return out


# The real CLI, for a few inputs: what a user runs must say what the in-process run says.


def cli_violations(inp: FuzzInput) -> list[Violation]:
    with tempfile.TemporaryDirectory() as tmp:
        args = [sys.executable, "-m", "krmfn"]
        if inp.stream:
            args.append("--stream")
            if inp.config is not None:
                path = os.path.join(tmp, "config.yaml")
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(inp.config)
                args += ["--config", path]
        proc = subprocess.run(
            args, input=inp.data, capture_output=True, check=False, cwd=ROOT, timeout=120
        )
    here = run_function(inp)
    out = []
    stderr = proc.stderr.decode(errors="replace")
    if "Traceback" in stderr or proc.returncode not in (0, 1):
        out.append(Violation("cli-crash", f"exit {proc.returncode}: {stderr[-2000:]}"))
    if proc.stdout != here.output:
        out.append(Violation("cli-differs:stdout", "the CLI's stdout is not the in-process output"))
    if proc.returncode != int(here.failed) or stderr.splitlines() != list(here.stderr):
        out.append(Violation("cli-differs:status", f"exit {proc.returncode}: {stderr!r}"))
    return out


def iter_report(found: list[Violation]) -> Iterator[str]:
    for v in found:
        yield f"  - {v}"


def minimize(inp: FuzzInput, code: str, seconds: float = 60.0) -> FuzzInput:
    """A smaller input with a violation of the same code: lines taken away, as many as
    can go (ddmin), within `seconds`."""
    deadline = time.monotonic() + seconds

    def keeps(data: bytes) -> bool:
        if time.monotonic() > deadline:
            return False
        return any(v.code == code for v in violations(replace(inp, data=data)))

    lines = inp.data.split(b"\n")
    parts = 2
    while len(lines) >= 2 and time.monotonic() < deadline:
        size = max(1, len(lines) // parts)
        for start in range(0, len(lines), size):
            rest = lines[:start] + lines[start + size :]
            if rest and keeps(b"\n".join(rest)):
                lines, parts = rest, max(parts - 1, 2)
                break
        else:
            if parts >= len(lines):
                break
            parts = min(len(lines), parts * 2)
    return replace(inp, data=b"\n".join(lines), origin=f"{inp.origin} (minimized for {code})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.contract")
    parser.add_argument("file")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--config")
    parser.add_argument("--minimize", metavar="CODE", help="write FILE.min with fewer lines")
    args = parser.parse_args(argv)
    with open(args.file, "rb") as handle:
        data = handle.read()
    config = None
    if args.config:
        with open(args.config, encoding="utf-8") as handle:
            config = handle.read()
    inp = FuzzInput(data, args.stream, config, args.file)
    if args.minimize:
        inp = minimize(inp, args.minimize, seconds=600)
        with open(args.file + ".min", "wb") as handle:
            handle.write(inp.data)
        print(f"wrote {args.file}.min")
    found = violations(inp) + cli_violations(inp)
    for line in iter_report(found):
        print(line)
    print(f"{len(found)} violation(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
