"""Inputs for the fuzzer: the project's fixtures, generated lists, and mutations of both.

Generated lists (`generated_inputs`) hold ModelServices and the workloads they may own
(Deployment, StatefulSet, LeaderWorkerSet, DisaggregatedSet, PodCliqueSet, found by name, labels,
ownerReference or target), and items nobody owns (ConfigMaps with block scalars, Services,
Jobs, Secrets, claims, leftovers of an earlier run, items that are not mappings). Each item
is written by hand, in block style (anchors and aliases for shared objects, block scalars
`|`, `|+`, `>-`, comments, quoted and plain scalars, YAML 1.1 scalars such as `yes` or
`0644` written plain), flow style or JSON; the list is block, flow, JSON or a YAML stream
(`--stream`), with CRLF line ends, document end markers and comments now and then.

Mutations (`mutated`) are mostly structural, on the text with the nodes' marks (delete,
insert or duplicate a key, swap two scalars, quote a scalar anew, anchor one value and
alias it elsewhere, append a comment, add `...`) or on the list (delete, duplicate, swap or
insert items, write an item or the whole list in another style, edit an item's data); a
few are byte-level (insert, delete or duplicate bytes, truncate, CRLF, a BOM).

The random choices come from a `random.Random` that hypothesis draws, so a seed gives the
same inputs again.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import yaml
from hypothesis import strategies as st
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tests.fuzz.contract import FuzzInput, compose_all, construct
from tests.golden import cases, fixture_input, is_stream

# Palettes -----------------------------------------------------------------------------


class Raw(str):
    """A scalar written plain as it is, whatever it means to the reader: `yes` is a
    boolean and `0644` an octal number to YAML 1.1 (kubectl), strings to YAML 1.2."""


YAML11 = ("yes", "no", "on", "off", "y", "n", "0644", "0o644", "0x1F", "1_000", "12:30")
YAML11 += ("1e3", ".inf", "~", "null", "True", "2001-12-14", "0", "-1", "+1")
ODD_NAMES = (
    "a]b",
    "it's",
    'say "hi"',
    "with space",
    "#hash",
    "x: y",
    "[x]",
    "{y}",
    "{{ .ModelName }}",
    "ünïcode",
    "a" * 70,
    "-dash",
    "*star",
    "&amp",
    "!bang",
    "%pct",
    "@at",
    "`tick`",
    "yes",
    "0644",
    "",
    "a,b",
    "back\\slash",
    "tab\there",
    "new\nline",
    "UPPER",
    "x.y",
    "a/b",
)
TEXTS = (
    "--port=8000",
    "facebook/opt-125m",
    "",
    " padded ",
    "a: b",
    "#not-a-comment",
    "it's",
    'say "hi"',
    "café ✓",
    "{{ .HFModelName }}",
    "{{- .MountedModelPath -}}",
    '{{ "app_port" | getPort }}',
    "--served-model-name={{ .ModelName }}",
    "{{ .Revision }}",
    '{{ default (print "/models/" .ModelPath) .HFModelName }}',
    "{{ .Nope }}",
    "{{ if .HFModelName }}x{{ end }}",
    '{{"{{"}} literal',
    "{{",
    "}}",
    "--load-format=safetensors",
    "--revision=abc",
    "line one\nline two\n",
    "keep\n\n",
    "  indented first\nsecond",
    "tab\tin",
    "\u2028sep",
    "x" * 300,
)
MODELS = (
    "facebook/opt-125m",
    "Qwen/Qwen3-0.6B",
    "Qwen/Qwen3-32B",
    "ibm-granite/granite-3.3-2b-instruct",
    "meta-llama/Llama-3.1-8B",
    "deepseek-ai/DeepSeek-R1-0528",
    "odd]model/x y",
    "",
)
URIS = (
    "hf://facebook/opt-125m",
    "hf://Qwen/Qwen3-0.6B@main",
    "hf://Qwen/Qwen3-32B@0123456789abcdef0123456789abcdef01234567",
    "pvc://weights/models/opt",
    "pvc://weights",
    "pvc://weights/",
    "pvc+hf://model-cache/hub/Qwen/Qwen3-0.6B",
    "pvc+hf://model-cache/hub/Qwen/Qwen3-0.6B@v1",
    "oci://registry.example.com/models/opt:v1",
    "oci://registry.example.com/models/opt@sha256:" + "a" * 64,
    "oci://registry.example.com/models/opt//weights",
    "oci://registry.example.com/models/opt",
    "s3://models-bucket/llama/Llama-3.1-8B",
    "gs://models-bucket/llama",
    "az://models/llama",
    # invalid
    "HF://facebook/opt-125m",
    "hf://only-one-segment",
    "hf://a/b/c",
    "hf://a--b/c",
    "pvc://Bad_Claim/x",
    "pvc://weights/../etc",
    "s3://Bad..Bucket/x",
    "gs://google-bucket/x",
    "ftp://x/y",
    "",
    "hf://",
    "pvc+hf://c/hub",
)
IMAGES = ("vllm/vllm-openai:v0.10.0", "ghcr.io/llm-d/llm-d-cuda:v0.7.0", "busybox:1.36", "")
CONTAINER_NAMES = ("vllm", "modelserver", "sidecar", "routing-proxy")
ROLES = ("decode", "prefill")
NAMESPACES = ("", "", "llm-d", "serving")
WORKLOADS = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "LeaderWorkerSet": "leaderworkerset.x-k8s.io/v1",
    "DisaggregatedSet": "disaggregatedset.x-k8s.io/v1",
    "PodCliqueSet": "grove.io/v1alpha1",
}
COMMENTS = ("note", "why: because", "#", "a: b", "'quoted'", "{x}", "---", "...", "é")

# Keys and values, as flow YAML text, that the text mutations insert.
INSERTS = (
    ("name", "vllm"),
    ("name", "'a]b'"),
    ("name", '"say \\"hi\\""'),
    ("namespace", "llm-d"),
    ("volumes", "[]"),
    ("volumes", "[{name: model-storage, emptyDir: {}}]"),
    ("volumes", "[{name: scratch, emptyDir: {}}, {name: scratch, emptyDir: {}}]"),
    ("volumeMounts", "[{name: model-storage, mountPath: /model-cache}]"),
    ("volumeMounts", "[{name: other, mountPath: /model-cache}]"),
    ("env", "[{name: HF_HOME, value: /somewhere}]"),
    ("env", "[{name: HF_TOKEN, value: hf_literal}]"),
    ("env", "[{name: X, value: a}, {name: X, value: b}]"),
    ("env", "[{name: HF_HUB_CACHE, value: /cache}]"),
    ("args", '["{{ .HFModelName }}", --port=8000]'),
    ("args", '["{{ .Nope }}"]'),
    ("args", "[--load-format=safetensors, --revision=x]"),
    ("command", "[/bin/bash, -c]"),
    ("command", "[]"),
    ("mountModelVolume", "true"),
    ("mountModelVolume", "yes"),
    ("image", "vllm/vllm-openai:v0.10.0"),
    ("labels", "{llm-d.ai/role: decode, llm-d.ai/model: facebook-opt-125m}"),
    ("labels", "{llm-d.ai/role: prefill}"),
    ("annotations", '{krmfn.llm-d.ai/applied: "garbage"}'),
    ("annotations", "{krmfn.llm-d.ai/applied: '{\"paths\": 5}'}"),
    ("annotations", '{krmfn.llm-d.ai/generated-by: "llm-d.ai/v1alpha1/ModelService/opt"}'),
    ("annotations", '{config.kubernetes.io/local-config: "true"}'),
    ("annotations", "{internal.config.kubernetes.io/previousNames: decode}"),
    ("uri", "pvc://weights"),
    ("uri", "pvc+hf://cache/hub/facebook/opt-125m"),
    ("uri", "oci://registry.example.com/m:v1"),
    ("uri", "hf://bad"),
    ("authSecretName", "hf-token"),
    ("size", "5Gi"),
    ("size", "lots"),
    ("prefetch", "true"),
    ("prefetch", "{claim: {size: 20Gi}}"),
    ("target", "{kind: Deployment, name: .*}"),
    ("target", "{kind: Deployment, labelSelector: 'llm-d.ai/role in (decode)'}"),
    ("target", "{name: '('}"),
    ("replicas", "0644"),
    ("replicas", "'2'"),
    ("replicas", "-1"),
    ("containers", "[]"),
    ("containers", "[{name: vllm, image: x}, {name: vllm, image: y}]"),
    ("initContainers", "[{name: vllm, image: x}]"),
    ("decode", "{containers: [{name: vllm, mountModelVolume: true}]}"),
    ("prefill", "{containers: [{name: vllm, image: x, mountModelVolume: true}]}"),
    ("decoupleScaling", "true"),
    ("acceleratorTypes", "{labelKey: gpu, labelValues: [H100]}"),
    ("kind", "Deployment"),
    ("kind", "ModelService"),
    ("kind", "LeaderWorkerSet"),
    ("apiVersion", "apps/v1"),
    ("apiVersion", "llm-d.ai/v1alpha1"),
    ("selector", "{matchLabels: {app: other}}"),
    ("matchExpressions", "[{key: llm-d.ai/role, operator: DoesNotExist}]"),
    ("matchLabels", "{llm-d.ai/role: decode}"),
    ("spec", "null"),
    ("metadata", "{}"),
    ("template", "{}"),
    ("items", "[]"),
    ("functionConfig", "{apiVersion: v1, kind: ConfigMap, data: {strict: 'true'}}"),
    ("results", "[{message: earlier, severity: info}]"),
    ("x-fuzz", "|\n  literal\n"),
    ("x-fuzz", "yes"),
    ("'quoted key'", "1"),
    ("? complex", "x"),
    ("<<", "{a: b}"),
    ("deep", "[" * 120 + "]" * 120),
)
VALUES = (
    *(Raw(v) for v in YAML11),
    *TEXTS,
    *ODD_NAMES,
    *URIS,
    0,
    1,
    -5,
    2**70,
    1.5,
    True,
    None,
    [],
    {},
    ["a", "b"],
    {"a": "b"},
)


# Rendering ----------------------------------------------------------------------------

_BREAKS = re.compile("[\n\r\x85\u2028\u2029]")
# What a block scalar cannot hold as it is.
_NOT_IN_BLOCK = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\r]")


def scalar_text(value: Any, style: str | None = None) -> str:
    """A scalar as flow YAML text (safe in block context too); `style`: None (plain where
    the value stays what it is), `'` or `"`."""
    if isinstance(value, Raw):
        return str(value)
    if not isinstance(value, str):
        style = None
    elif _BREAKS.search(value):
        style = '"'
    text = yaml.dump(
        [value],
        Dumper=yaml.SafeDumper,
        default_flow_style=True,
        default_style=style,
        width=1 << 30,
        allow_unicode=True,
    )
    return text[1:-2]


def block_scalar(value: str, base: int, content: int, rng: random.Random) -> list[str] | None:
    """A string as a block scalar: [header, content lines...], the content at column
    `content`, or None where a block scalar cannot hold it as it is."""
    if not value or _NOT_IN_BLOCK.search(value):
        return None
    body = value.rstrip("\n")
    trailing = len(value) - len(body)
    lines = body.split("\n")
    if not body or any(line and not line.strip(" ") for line in lines):
        return None
    first = next(line for line in lines if line)
    chomp = "-" if trailing == 0 else "" if trailing == 1 else "+"
    folded = len(lines) == 1 and body == body.strip() and "  " not in body and rng.random() < 0.4
    indicator = str(content - base) if first.startswith((" ", "\t")) or folded else ""
    if first.startswith((" ", "\t")) and not 1 <= content - base <= 9:
        return None
    header = (">" if folded else "|") + indicator + chomp
    out = [header] + [(" " * content + line) if line else "" for line in lines]
    return out + [""] * max(0, trailing - 1)


def shared_ids(obj: Any) -> set[int]:
    """Collections that occur more than once: written once with an anchor, then aliases."""
    seen: dict[int, int] = {}

    def walk(value: Any) -> None:
        if isinstance(value, (dict, list)):
            seen[id(value)] = seen.get(id(value), 0) + 1
            if seen[id(value)] > 1:
                return
            for child in value.values() if isinstance(value, dict) else value:
                walk(child)

    walk(obj)
    return {k for k, n in seen.items() if n > 1}


def loaded(obj: Any, memo: dict[int, Any] | None = None) -> Any:
    """Plain data (for JSON): a Raw scalar as YAML 1.1 reads it; sharing kept."""
    memo = {} if memo is None else memo
    if isinstance(obj, Raw):
        try:
            return yaml.safe_load(str(obj)) if str(obj) else ""
        except (yaml.YAMLError, ValueError, TypeError, OverflowError):  # `!!int abc`
            return str(obj)
    if isinstance(obj, dict):
        if id(obj) not in memo:
            memo[id(obj)] = {}
            memo[id(obj)].update({_key(k, memo): loaded(v, memo) for k, v in obj.items()})
        return memo[id(obj)]
    if isinstance(obj, list):
        if id(obj) not in memo:
            memo[id(obj)] = []
            memo[id(obj)].extend(loaded(v, memo) for v in obj)
        return memo[id(obj)]
    return obj


def _key(key: Any, memo: dict[int, Any]) -> Any:
    """A key as JSON can hold it: one YAML reads as another type (`!!binary` gives
    bytes, a collection a tuple) is kept as its text."""
    value = loaded(key, memo)
    return value if isinstance(value, str | int | float | bool | None) else str(key)


def _finite(value: Any) -> Any:
    """JSON has no infinity or NaN: such a float is written as YAML's text for it."""
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def to_json(obj: Any, rng: random.Random) -> str:
    return json.dumps(
        _finite(loaded(obj)),
        ensure_ascii=rng.random() < 0.5,
        indent=rng.choice([None, None, 2]),
        default=str,
        sort_keys=False,
    )


class Writer:
    """One item's text, column 0, in block or flow style."""

    def __init__(self, rng: random.Random, obj: Any) -> None:
        self.rng = rng
        self.shared = shared_ids(obj)
        self.names: dict[int, str] = {}
        self.step = rng.choice([2, 2, 4])
        self.dash = rng.choice([0, self.step])
        self.comments = rng.choice([0.0, 0.05, 0.15])
        self.flow_nested = rng.choice([0.0, 0.1, 0.3])
        self.blocks = rng.choice([0.0, 0.2, 0.5])

    def _name(self, value: Any) -> str:
        # Unique in the list (a name given twice is an error to libyaml), now and then not.
        suffix = "" if self.rng.random() < 0.02 else str(self.rng.randrange(10**6))
        name = self.rng.choice(["a", "pod", "x-1", "Tmpl_2", "id"]) + suffix
        self.names[id(value)] = name
        return name

    def _style(self) -> str | None:
        return self.rng.choice([None, None, None, "'", '"'])

    def _trail(self) -> str:
        if self.rng.random() < self.comments:
            return " " * self.rng.randint(1, 3) + "# " + self.rng.choice(COMMENTS)
        return ""

    def _comment_line(self, indent: int) -> list[str]:
        if self.rng.random() < self.comments / 2:
            return [" " * indent + "# " + self.rng.choice(COMMENTS)]
        return []

    def key(self, key: Any) -> str:
        return scalar_text(key, self._style())

    def flow(self, value: Any, anchored: bool = False) -> str:
        """`value` in flow style; `anchored` when its anchor is already written before it."""
        prefix = ""
        if not anchored and isinstance(value, (dict, list)) and id(value) in self.shared:
            if id(value) in self.names:
                return "*" + self.names[id(value)]
            prefix = "&" + self._name(value) + " "
        if isinstance(value, dict):
            inner = ", ".join(f"{self.key(k)}: {self.flow(v)}" for k, v in value.items())
            return prefix + "{" + inner + "}"
        if isinstance(value, list):
            return prefix + "[" + ", ".join(self.flow(v) for v in value) + "]"
        return scalar_text(value, self._style())

    def block(self, obj: Any) -> str:
        if isinstance(obj, dict) and obj:
            lines = self._mapping(obj, 0)
        elif isinstance(obj, list) and obj:
            lines = self._sequence(obj, 0)
        else:
            lines = [self.flow(obj)]
        return "\n".join(lines) + "\n"

    def flow_item(self, obj: Any) -> str:
        text = self.flow(obj)
        if self.rng.random() < 0.4:
            # Wrapped at some top-level commas, as people write long flow items.
            pieces, depth, quote, start = [], 0, "", 0
            for index, char in enumerate(text):
                if quote:
                    quote = "" if char == quote else quote
                elif char in "'\"":
                    quote = char
                elif char in "[{":
                    depth += 1
                elif char in "]}":
                    depth -= 1
                elif char == "," and depth == 1 and self.rng.random() < 0.5:
                    pieces.append(text[start : index + 1])
                    start = index + 2
            pieces.append(text[start:])
            text = "\n  ".join(pieces)
        return text + "\n"

    def _mapping(self, obj: dict[Any, Any], indent: int) -> list[str]:
        out: list[str] = []
        for k, v in obj.items():
            out += self._comment_line(indent)
            out += self._entry(" " * indent + self.key(k) + ":", v, indent, dash=False)
        return out

    def _sequence(self, obj: list[Any], indent: int) -> list[str]:
        out: list[str] = []
        for v in obj:
            out += self._comment_line(indent)
            out += self._entry(" " * indent + "-", v, indent, dash=True)
        return out

    def _entry(self, head: str, value: Any, base: int, dash: bool) -> list[str]:
        anchor = ""
        if isinstance(value, (dict, list)) and id(value) in self.shared:
            if id(value) in self.names:
                return [head + " *" + self.names[id(value)] + self._trail()]
            anchor = " &" + self._name(value)
        inner = base + 2 if dash else base + self.step
        if isinstance(value, dict) and value:
            if self.rng.random() < self.flow_nested:
                return [head + anchor + " " + self.flow(value, bool(anchor)) + self._trail()]
            lines = self._mapping(value, inner)
            if dash and not anchor and not lines[0].lstrip().startswith("#"):
                return [head + " " + lines[0][inner:]] + lines[1:]
            return [head + anchor + self._trail()] + lines
        if isinstance(value, list) and value:
            if dash or self.rng.random() < self.flow_nested:
                return [head + anchor + " " + self.flow(value, bool(anchor)) + self._trail()]
            return [head + anchor + self._trail()] + self._sequence(value, base + self.dash)
        if (
            isinstance(value, str)
            and not isinstance(value, Raw)
            and ("\n" in value or self.rng.random() < self.blocks)
        ):
            lines = block_scalar(value, base, inner, self.rng)
            if lines is not None:
                return [head + anchor + " " + lines[0] + self._trail()] + lines[1:]
        return [head + anchor + " " + self.flow(value, bool(anchor)) + self._trail()]


def write_item(obj: Any, rng: random.Random, style: str | None = None) -> Piece:
    style = style or rng.choices(["block", "flow", "json"], [6, 2, 1])[0]
    if style == "json":
        # JSON has no dates or other YAML 1.1 types: its data is what the text says.
        text = to_json(obj, rng)
        return Piece(text + "\n", json.loads(text), block=False)
    if style == "flow":
        return Piece(Writer(rng, obj).flow_item(obj), obj, block=False)
    block = isinstance(obj, (dict, list)) and bool(obj)
    return Piece(Writer(rng, obj).block(obj), obj, block=block)


# Lists --------------------------------------------------------------------------------

_NO_DATA = object()


@dataclass
class Piece:
    """An item (or the functionConfig) as text at column 0, with its data where known."""

    text: str
    data: Any = _NO_DATA
    block: bool = True  # block style: cannot stand inside a flow list


@dataclass
class Layout:
    stream: bool
    items: list[Piece]
    config: Piece | None = None
    head: tuple[str, ...] = ("apiVersion: config.kubernetes.io/v1", "kind: ResourceList")
    extra: tuple[str, ...] = ()  # other top-level entries (earlier results), block text


def in_list(text: str, indent: int) -> str:
    pad = " " * indent
    lines = text.rstrip("\n").split("\n")
    rest = [(pad + "  " + line) if line else line for line in lines[1:]]
    return "\n".join([pad + "- " + lines[0], *rest]) + "\n"


def under_key(text: str) -> str:
    lines = text.rstrip("\n").split("\n")
    return "".join(("  " + line if line else line) + "\n" for line in lines)


def _flow_text(piece: Piece, rng: random.Random) -> str | None:
    if not piece.block:
        return piece.text.rstrip("\n")
    if piece.data is _NO_DATA:
        return None
    return Writer(rng, piece.data).flow_item(piece.data).rstrip("\n")


def render(layout: Layout, style: str, rng: random.Random) -> FuzzInput:
    """The layout as a ResourceList in `style` (block, flow, json) or as a stream."""
    if style == "stream":
        return _render_stream(layout, rng)
    if style == "json":
        data = [p.data for p in layout.items]
        config = layout.config.data if layout.config else None
        if all(d is not _NO_DATA for d in data) and config is not _NO_DATA:
            root: dict[str, Any] = {}
            for line in layout.head:
                key, _, value = line.partition(": ")
                root[key] = value
            root["items"] = data
            if layout.config is not None:
                root["functionConfig"] = config
            if rng.random() < 0.5:
                items = ",\n  ".join(to_json(d, rng) for d in data)
                head = json.dumps({k: v for k, v in root.items() if k != "items"})[1:-1]
                text = "{" + head + (", " if head else "") + '"items": [\n  ' + items + "\n]}\n"
            else:
                text = to_json(root, rng) + "\n"
            return FuzzInput(text.encode(), False)
        style = "flow"
    lines = list(layout.head)
    if rng.random() < 0.3:
        lines.reverse()
    text = "# fuzz\n" if rng.random() < 0.2 else ""
    text += "\n".join(lines) + "\n"
    flows = [_flow_text(p, rng) for p in layout.items] if style == "flow" else []
    if not layout.items:
        text += "items: []\n" if rng.random() < 0.8 else "items:\n"
    elif style == "flow" and all(f is not None for f in flows):
        text += "items: [\n" + ",\n".join("  " + f.replace("\n", "\n  ") for f in flows) + "\n]\n"
    else:
        indent = rng.choice([0, 2])
        text += "items:\n"
        for piece in layout.items:
            if rng.random() < 0.1:
                text += " " * indent + "# next\n"
            text += in_list(piece.text, indent)
    if layout.config is not None:
        text += "functionConfig:\n" + under_key(layout.config.text)
    for entry in layout.extra:
        text += entry if entry.endswith("\n") else entry + "\n"
    return FuzzInput(text.encode(), False)


def _render_stream(layout: Layout, rng: random.Random) -> FuzzInput:
    text = ""
    for index, piece in enumerate(layout.items):
        if index or rng.random() < 0.6:
            text += "---\n"
        if rng.random() < 0.3:
            text += f"# Source: chart/templates/{index}.yaml\n"
        text += piece.text if piece.text.endswith("\n") else piece.text + "\n"
        if rng.random() < 0.05:
            text += "...\n"
    config = layout.config.text if layout.config is not None else None
    return FuzzInput(text.encode(), True, config)


def finish(inp: FuzzInput, rng: random.Random) -> FuzzInput:
    """Odd endings and line ends, now and then."""
    data = inp.data
    roll = rng.random()
    if roll < 0.05:
        data = data.rstrip(b"\n")
    elif roll < 0.1:
        data += b"...\n"
    elif roll < 0.13:
        data = b"%YAML 1.1\n---\n" + data.removeprefix(b"---\n")
    if rng.random() < 0.1:
        data = data.replace(b"\n", b"\r\n")
    return replace(inp, data=data)


# Objects ------------------------------------------------------------------------------


def _pick(rng: random.Random, values: tuple[Any, ...] | list[Any]) -> Any:
    return values[rng.randrange(len(values))]


def _name(rng: random.Random, usual: str) -> str:
    return _pick(rng, ODD_NAMES) if rng.random() < 0.04 else usual


def _metadata(rng: random.Random, name: str, namespace: str, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta.update({k: v for k, v in extra.items() if v})
    return meta


def sanitize(model: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", model.lower()).strip("-")[:63]


def _maybe(rng: random.Random, p: float) -> bool:
    return rng.random() < p


def container_spec(rng: random.Random, name: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name or _pick(rng, CONTAINER_NAMES)}
    if _maybe(rng, 0.4):
        spec["image"] = _pick(rng, IMAGES)
    if _maybe(rng, 0.15):
        spec["command"] = _pick(rng, (["vllm", "serve"], ["/bin/bash", "-c"], []))
    if _maybe(rng, 0.6):
        spec["args"] = [_pick(rng, TEXTS) for _ in range(rng.randint(0, 3))]
    if _maybe(rng, 0.3):
        env = []
        for var in rng.sample(["VLLM_LOG", "HF_HOME", "HF_TOKEN", "X", "HF_HUB_CACHE"], 2):
            if _maybe(rng, 0.8):
                env.append({"name": var, "value": _pick(rng, TEXTS)})
            else:
                ref = {"secretKeyRef": {"name": "s", "key": "k"}}
                env.append({"name": var, "valueFrom": ref})
        spec["env"] = env
    if _maybe(rng, 0.1):
        spec["envFrom"] = [{"configMapRef": {"name": "cfg"}}]
    if _maybe(rng, 0.2):
        spec["resources"] = {"limits": {"nvidia.com/gpu": _pick(rng, (1, "2", Raw("0x2")))}}
    if _maybe(rng, 0.85):
        spec["mountModelVolume"] = _pick(rng, (True, True, False, Raw("yes")))
    return spec


def role_spec(rng: random.Random, role: str, target: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if target is not None:
        spec["target"] = target
    if _maybe(rng, 0.5):
        spec["replicas"] = _pick(rng, (0, 1, 2, 3, Raw("0644"), "2"))
    names = rng.sample(CONTAINER_NAMES, rng.randint(0, 2))
    spec["containers"] = [container_spec(rng, n) for n in names]
    if _maybe(rng, 0.2):
        spec["initContainers"] = [container_spec(rng, "vllm-warmup")]
    if _maybe(rng, 0.15):
        spec["acceleratorTypes"] = {"labelKey": "gpu", "labelValues": ["H100", "A100"]}
    return spec


def model_service(rng: random.Random, stream: bool) -> dict[str, Any]:
    name = _name(rng, _pick(rng, ("opt", "qwen", "llama", "granite-3", "chat")))
    namespace = _pick(rng, NAMESPACES)
    annotations: dict[str, Any] = {}
    if _maybe(rng, 0.6 if stream else 0.2):
        annotations["config.kubernetes.io/local-config"] = _pick(rng, ("true", "true", "false"))
    if _maybe(rng, 0.15):
        annotations["config.kubernetes.io/path"] = f"serving/{name}.yaml"
        annotations["internal.config.kubernetes.io/path"] = f"serving/{name}.yaml"
    if _maybe(rng, 0.1):
        annotations["config.kubernetes.io/function"] = "container:\n  image: krmfn:v0\n"
    artifacts: dict[str, Any] = {"uri": _pick(rng, URIS)}
    uri = str(artifacts["uri"])
    if _maybe(rng, 0.4):
        artifacts["authSecretName"] = _pick(rng, ("hf-token", "s3-creds", ""))
    if _maybe(rng, 0.25):
        artifacts["size"] = _pick(rng, ("5Gi", "80Gi", "500M", "lots"))
    if (uri.startswith("pvc+hf") and _maybe(rng, 0.4)) or _maybe(rng, 0.03):
        artifacts["prefetch"] = _pick(
            rng,
            (
                True,
                {"timeoutSeconds": 1800},
                {"claim": {"size": "20Gi", "storageClassName": "nfs"}},
                {"image": "", "backoffLimit": 2, "resources": {"limits": {"memory": "4Gi"}}},
            ),
        )
    if uri.startswith(("s3", "gs")) and _maybe(rng, 0.5):
        artifacts["endpoint"] = "http://minio.local:9000"
    if uri.startswith("s3") and _maybe(rng, 0.5):
        artifacts["region"] = "eu-west-1"
    if uri.startswith("gs") and _maybe(rng, 0.5):
        artifacts["credentials"] = _pick(rng, ("workloadIdentity", "serviceAccountKey", "hmac"))
    if uri.startswith("az") and _maybe(rng, 0.6):
        artifacts["account"] = "acct"
    if uri.startswith("oci") and _maybe(rng, 0.3):
        artifacts["pullPolicy"] = _pick(rng, ("Always", "IfNotPresent", "Sometimes"))
    if _maybe(rng, 0.05):
        artifacts["readOnly"] = _pick(rng, (True, False))
    routing: dict[str, Any] = {"modelName": _pick(rng, MODELS)}
    if _maybe(rng, 0.3):
        routing["ports"] = [{"name": "app_port", "port": 8000}]
    spec: dict[str, Any] = {"routing": routing, "modelArtifacts": artifacts}
    if _maybe(rng, 0.1):
        spec["decoupleScaling"] = True
    for role in ROLES:
        if _maybe(rng, 0.7 if role == "decode" else 0.4):
            spec[role] = role_spec(rng, role, None)
    meta = _metadata(rng, name, namespace, annotations=annotations)
    return {
        "apiVersion": "llm-d.ai/v1alpha1",
        "kind": "ModelService",
        "metadata": meta,
        "spec": spec,
    }


def pod_template(rng: random.Random, app: str, names: list[str]) -> dict[str, Any]:
    containers = []
    for name in names or [_pick(rng, CONTAINER_NAMES)]:
        container: dict[str, Any] = {"name": name, "image": _pick(rng, IMAGES[:3])}
        if _maybe(rng, 0.15):
            container["command"] = ["/bin/bash", "-c"]
            container["args"] = [
                "exec vllm serve \\\n  {{ .HFModelName }} \\\n  --port 8000\n"
                if _maybe(rng, 0.7)
                else "exec vllm serve {{ .Nope }}"
            ]
        elif _maybe(rng, 0.5):
            container["args"] = [_pick(rng, TEXTS) for _ in range(rng.randint(0, 3))]
        if _maybe(rng, 0.3):
            container["env"] = [
                {"name": _pick(rng, ("HF_HOME", "HF_HUB_CACHE", "HF_TOKEN", "OTHER")), "value": v}
                for v in rng.sample(["/somewhere", "hf_literal", "x"], rng.randint(1, 2))
            ]
        if _maybe(rng, 0.2):
            container["volumeMounts"] = [
                {
                    "name": _pick(rng, ("model-storage", "scratch", "hf-cache")),
                    "mountPath": _pick(rng, ("/model-cache", "/scratch", "/var/cache")),
                }
            ]
        if _maybe(rng, 0.1):
            container["stdin"] = Raw(_pick(rng, ("yes", "on", "true")))
        if _maybe(rng, 0.1):
            container["resources"] = {"requests": {"ephemeral-storage": "10Gi"}}
        containers.append(container)
    spec: dict[str, Any] = {"containers": containers}
    if _maybe(rng, 0.15):
        spec["initContainers"] = [
            {"name": "routing-proxy", "image": "proxy:v1", "restartPolicy": "Always"}
        ]
    if _maybe(rng, 0.3):
        spec["volumes"] = [
            {"name": _pick(rng, ("model-storage", "scratch", "hf-cache")), "emptyDir": {}},
            {"name": "cfg", "configMap": {"name": "c", "defaultMode": Raw("0644")}},
        ][: rng.randint(1, 2)]
    if _maybe(rng, 0.1):
        term = {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
            }
        }
    labels: dict[str, Any] = {"app": app}
    return {"metadata": {"labels": labels}, "spec": spec}


def _dig(obj: Any, *keys: str) -> Any:
    """obj[k1][k2]..., or None where a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def workload(rng: random.Random, kind: str, ms: dict[str, Any] | None, role: str) -> dict[str, Any]:
    """A workload that `ms` may own, by name, labels, ownerReference or its target."""
    # `ms` may come from a mutated fixture: any of its fields may be gone or of another type.
    ms_name = str(_dig(ms, "metadata", "name") or _pick(rng, ("opt", "qwen")))
    namespace = str(_dig(ms, "metadata", "namespace") or "") if ms else _pick(rng, NAMESPACES)
    model = str(_dig(ms, "spec", "routing", "modelName") or _pick(rng, MODELS))
    spec = _dig(ms, "spec")
    roles = spec if isinstance(spec, dict) else {}
    how = _pick(rng, ("name", "name", "labels", "owner", "target"))
    name = f"{ms_name}-{role}"
    labels: dict[str, Any] = {}
    owners: list[Any] = []
    if how == "labels":
        name = f"{ms_name}-{role}-by-labels"
        labels["llm-d.ai/model"] = (
            str(model).rsplit("/", 1)[-1] if _maybe(rng, 0.5) else sanitize(str(model))
        )
        labels["llm-d.ai/role"] = role
    elif how == "owner":
        name = f"{ms_name}-{role}-owned"
        labels["llm-d.ai/role"] = role
        owners = [{"apiVersion": "llm-d.ai/v1alpha1", "kind": "ModelService", "name": ms_name}]
    elif how == "target" and ms and isinstance(roles.get(role), dict):
        name = _pick(rng, (role, f"base-{role}"))
        target: dict[str, Any] = {"kind": kind}
        target[_pick(rng, ("name", "name", "labelSelector"))] = name
        if "labelSelector" in target:
            target["labelSelector"] = f"llm-d.ai/role={role}"
            labels["llm-d.ai/role"] = role
        roles[role]["target"] = target
    given = _dig(roles, role, "containers")
    names = [
        c["name"]
        for c in (given if isinstance(given, list) else [])
        if isinstance(c, dict) and isinstance(c.get("name"), str)
    ]
    names = names if _maybe(rng, 0.8) else []
    annotations: dict[str, Any] = {}
    if _maybe(rng, 0.05):
        annotations["krmfn.llm-d.ai/applied"] = _pick(rng, ("", "garbage", "{}", '{"paths": 5}'))
    meta = _metadata(
        rng,
        _name(rng, name),
        namespace,
        labels=labels,
        ownerReferences=owners,
        annotations=annotations,
    )
    api = WORKLOADS[kind]
    if kind in ("Deployment", "StatefulSet"):
        template = pod_template(rng, name, names)
        match = template["metadata"]["labels"] if _maybe(rng, 0.2) else {"app": name}
        selector: dict[str, Any] = {"matchLabels": match}
        if _maybe(rng, 0.1):
            selector["matchExpressions"] = [
                {
                    "key": _pick(
                        rng,
                        (
                            "llm-d.ai/role",
                            "llm-d.ai/inference-serving",
                            "llm-d.ai/inferenceServing",
                            "tier",
                        ),
                    ),
                    "operator": _pick(rng, ("DoesNotExist", "Exists", "NotIn")),
                    **({"values": ["x"]} if _maybe(rng, 0.5) else {}),
                }
            ]
        spec: dict[str, Any] = {"selector": selector, "template": template}
        if _maybe(rng, 0.5):
            spec = {"replicas": rng.randint(0, 3), **spec}
        if kind == "StatefulSet" and _maybe(rng, 0.5):
            spec["serviceName"] = name
    elif kind == "LeaderWorkerSet":
        leader = pod_template(rng, name, names)
        worker = leader if _maybe(rng, 0.2) else pod_template(rng, name, names)
        lwt: dict[str, Any] = {"size": 2, "workerTemplate": worker}
        if _maybe(rng, 0.7):
            lwt = {"size": 2, "leaderTemplate": leader, "workerTemplate": worker}
        spec = {"replicas": 1, "leaderWorkerTemplate": lwt}
    elif kind == "PodCliqueSet":
        cliques = []
        for r in rng.sample(ROLES, rng.randint(1, 2)):
            for clique_name in _pick(rng, ((r,), (f"{r}-leader", f"{r}-worker"))):
                template = pod_template(rng, name, names)
                # Without a role label, the clique's roleName says its role.
                if _maybe(rng, 0.7):
                    template["metadata"]["labels"]["llm-d.ai/role"] = r
                clique_spec = {"roleName": clique_name, "replicas": rng.randint(1, 3)}
                clique_spec["podSpec"] = template["spec"]
                labels = template["metadata"]["labels"]
                cliques.append({"name": clique_name, "labels": labels, "spec": clique_spec})
        spec = {"replicas": 1, "template": {"cliques": cliques}}
        if _maybe(rng, 0.5):
            meta.setdefault("labels", {})["llm-d.ai/model"] = str(model).rsplit("/", 1)[-1]
    else:
        spec = {"roles": []}
        for r in rng.sample(ROLES, rng.randint(1, 2)):
            template = pod_template(rng, name, names)
            template["metadata"]["labels"]["llm-d.ai/role"] = r
            lwt = {"size": 1, "workerTemplate": template}
            role_entry: dict[str, Any] = {"name": r}
            if _maybe(rng, 0.2):
                role_entry["scaling"] = {"mode": "External"}
            role_entry["spec"] = {"replicas": 1, "leaderWorkerTemplate": lwt}
            spec["roles"].append(role_entry)
        if _maybe(rng, 0.5):
            meta.setdefault("labels", {})["llm-d.ai/model"] = str(model).rsplit("/", 1)[-1]
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec}


def unrelated(rng: random.Random, names: list[str]) -> Any:
    namespace = _pick(rng, NAMESPACES)
    choice = _pick(
        rng,
        (
            "ConfigMap",
            "ConfigMap",
            "Service",
            "Job",
            "Secret",
            "PersistentVolumeClaim",
            "PrometheusRule",
            "HorizontalPodAutoscaler",
            "generated",
            "Unknown",
            "odd",
            "lookalike",
        ),
    )
    base = _pick(rng, names) if names else "opt"
    if choice == "ConfigMap":
        data = {
            "script.sh": "#!/bin/sh\necho {{ .HFModelName }}\n",
            "kept.txt": "last line\n\n\n",
            "folded": "one long line",
            "mode": Raw(_pick(rng, YAML11)),
            "quoted": _pick(rng, TEXTS),
        }
        keys = rng.sample(list(data), rng.randint(1, len(data)))
        obj: Any = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata(rng, _name(rng, f"{base}-config"), namespace),
            "data": {k: data[k] for k in keys},
        }
    elif choice == "HorizontalPodAutoscaler":
        kind = _pick(rng, ("Deployment", "StatefulSet", "LeaderWorkerSet"))
        obj = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": _metadata(rng, f"{base}-decode", namespace),
            "spec": {
                "scaleTargetRef": {"kind": kind, "name": f"{base}-decode"},
                "maxReplicas": rng.randint(1, 4),
            },
        }
    elif choice == "Service":
        obj = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(rng, f"{base}-decode", namespace),
            "spec": {"selector": {"llm-d.ai/role": "decode"}, "ports": [{"port": 8000}]},
        }
    elif choice in ("Job", "generated"):
        obj = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": _metadata(rng, f"{base}-prefetch-0a1b2c3d", namespace),
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "fetch", "image": "python:3.12"}],
                    }
                }
            },
        }
        if choice == "generated":
            by = f"llm-d.ai/v1alpha1/ModelService/{namespace}/{base}" if namespace else base
            obj["metadata"]["annotations"] = {"krmfn.llm-d.ai/generated-by": by}
    elif choice == "Secret":
        obj = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _metadata(rng, "hf-token", namespace),
            "stringData": {"HF_TOKEN": "hf_never_printed"},
        }
    elif choice == "PersistentVolumeClaim":
        obj = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": _metadata(rng, "model-cache", namespace),
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    elif choice == "PrometheusRule":
        obj = {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": _metadata(rng, "rules", namespace),
            "spec": {
                "groups": [
                    {"name": "g", "rules": [{"alert": "{{ $labels.x }} {{ .HFModelName }}"}]}
                ]
            },
        }
    elif choice == "Unknown":
        obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": base}}
        if _maybe(rng, 0.3):
            del obj["metadata"]
    elif choice == "odd":
        obj = _pick(rng, (None, "just a string", ["a", "list"], {}, {"kind": "NoName"}, 5))
    else:
        obj = {
            "apiVersion": "example.com/v1",
            "kind": "ModelService",
            "metadata": _metadata(rng, base, namespace),
            "spec": {"modelArtifacts": {"uri": "hf://a/b"}},
        }
    return obj


def function_config(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.5:
        options = {
            "kinds": _pick(rng, ("Deployment", "Deployment,StatefulSet", "LeaderWorkerSet,Nope")),
            "strict": _pick(rng, ("true", "false", "maybe")),
            "mountRoot": _pick(rng, ("/models", "/model-cache/", "relative")),
            "readOnly": _pick(rng, ("true", "false")),
            "emptyDirMedium": _pick(rng, ("Memory", "")),
            "tokenSecretKey": "token",
            "tokenOptional": "true",
            "imagePullPolicy": _pick(rng, ("IfNotPresent", "Never", "Bad")),
            "hfEndpoint": _pick(rng, ("https://hf-mirror.example.com", "not a url")),
            "ephemeralStorageRequest": _pick(rng, ("false", "true")),
        }
        keys = rng.sample(list(options), rng.randint(0, 3))
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "fn-config"},
            "data": {k: options[k] for k in keys},
        }
    if roll < 0.8:
        spec: dict[str, Any] = {}
        if _maybe(rng, 0.6):
            spec["kinds"] = rng.sample(list(WORKLOADS), rng.randint(1, 3))
        if _maybe(rng, 0.5):
            spec["strict"] = _pick(rng, (True, False, "yes"))
        if _maybe(rng, 0.3):
            spec["mountRoot"] = "/models"
        return {
            "apiVersion": "krmfn.llm-d.ai/v1alpha1",
            "kind": "ModelArtifacts",
            "metadata": {"name": "model-artifacts"},
            "spec": spec,
        }
    return model_service(rng, stream=False)


def generated_layout(rng: random.Random) -> Layout:
    stream = rng.random() < 0.2
    services = [model_service(rng, stream) for _ in range(rng.randint(0, 3))]
    items: list[Any] = list(services)
    kinds = list(WORKLOADS)
    for ms in services or [None]:
        for role in ROLES:
            if ms is not None and role not in ms["spec"] and _maybe(rng, 0.8):
                continue
            for _ in range(rng.choice([0, 1, 1, 1, 2])):
                items.append(workload(rng, _pick(rng, kinds), ms, role))
    names = [s["metadata"]["name"] for s in services]
    items += [unrelated(rng, names) for _ in range(rng.randint(0, 4))]
    rng.shuffle(items)
    pieces = [write_item(obj, rng) for obj in items]
    config = None
    if rng.random() < 0.25:
        config_obj = function_config(rng)
        config = write_item(config_obj, rng, "block" if stream else None)
    extra: tuple[str, ...] = ()
    if not stream and rng.random() < 0.05:
        extra = ("results:\n- message: from an earlier function\n  severity: info\n",)
    head = (
        "apiVersion: config.kubernetes.io/v1",
        f"kind: {'List' if _maybe(rng, 0.05) else 'ResourceList'}",
    )
    return Layout(stream, pieces, config, head, extra)


@st.composite
def generated_inputs(draw: st.DrawFn) -> FuzzInput:
    rng = draw(st.randoms(use_true_random=False))
    layout = generated_layout(rng)
    styles = ["block", "flow", "json"]
    style = "stream" if layout.stream else rng.choices(styles, [6, 2, 1])[0]
    inp = finish(render(layout, style, rng), rng)
    return replace(inp, origin=f"generated:{style}")


# Fixtures -----------------------------------------------------------------------------


def fixture_corpus() -> list[FuzzInput]:
    corpus = []
    for case in cases():
        if is_stream(case):
            config = case / "config.yaml"
            text = config.read_text() if config.is_file() else None
            data = (case / "input.yaml").read_bytes()
            corpus.append(FuzzInput(data, True, text, f"fixture:{case.name}"))
        else:
            corpus.append(FuzzInput(fixture_input(case), False, None, f"fixture:{case.name}"))
    return corpus


FIXTURES = fixture_corpus()


def fixture_inputs() -> st.SearchStrategy[FuzzInput]:
    return st.sampled_from(FIXTURES)


# Reading an input back into a layout ------------------------------------------------


def _dedent(text: str, column: int) -> str:
    lines = text.split("\n")
    out = [lines[0]]
    for line in lines[1:]:
        spaces = len(line) - len(line.lstrip(" "))
        out.append(line[min(spaces, column) :])
    return "\n".join(out)


def _piece(text: str, node: Node) -> Piece:
    span = text[node.start_mark.index : node.end_mark.index]
    block = isinstance(node, (MappingNode, SequenceNode)) and not node.flow_style
    if block or (isinstance(node, ScalarNode) and node.style in ("|", ">")):
        span = _dedent(span, node.start_mark.column)
    try:
        data = construct(node)
    except Exception:
        data = _NO_DATA
    return Piece(span.rstrip("\n") + "\n", data, block=bool(block))


def layout_of(inp: FuzzInput) -> Layout | None:
    text = inp.data.decode("utf-8", errors="strict") if _utf8(inp.data) else None
    if text is None:
        return None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    docs = compose_all(text)
    if docs is None:
        return None
    if inp.stream:
        pieces = [_piece(text, d) for d in docs]
        config = None
        if inp.config is not None:
            try:
                data = yaml.safe_load(inp.config)
            except (yaml.YAMLError, ValueError, TypeError, OverflowError):
                # not YAML, or a value its tag cannot build (`!!int abc`)
                data = _NO_DATA
            config = Piece(inp.config, data, block=True)
        return Layout(True, pieces, config)
    if len(docs) != 1 or not isinstance(docs[0], MappingNode):
        return None
    root = docs[0]
    head: list[str] = []
    extra: list[str] = []
    items: list[Piece] = []
    config = None
    for key, value in root.value:
        name = key.value if isinstance(key, ScalarNode) else None
        if name == "items" and isinstance(value, SequenceNode):
            items = [_piece(text, n) for n in value.value]
        elif name == "functionConfig":
            config = _piece(text, value)
        elif name in ("apiVersion", "kind") and isinstance(value, ScalarNode):
            head.append(f"{name}: {scalar_text(value.value)}")
        elif not root.flow_style:
            start = key.start_mark.index - key.start_mark.column
            extra.append(text[start : value.end_mark.index].rstrip("\n") + "\n")
    return Layout(False, items, config, tuple(head), tuple(extra))


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# Mutations ----------------------------------------------------------------------------

Mutation = Callable[[FuzzInput, random.Random], FuzzInput | None]


@dataclass(frozen=True)
class Spot:
    """A node of the input, with its parent mapping's key where it is a value."""

    node: Node
    key: Node | None
    parent: Node | None
    doc: int


def _text(inp: FuzzInput) -> str | None:
    if not _utf8(inp.data):
        return None
    return inp.data.decode("utf-8")


def spots(text: str) -> list[Spot]:
    docs = compose_all(text)
    if docs is None:
        return []
    out: list[Spot] = []
    seen: set[int] = set()

    def walk(node: Node, key: Node | None, parent: Node | None, doc: int) -> None:
        if id(node) in seen or len(out) > 5000:
            return
        seen.add(id(node))
        out.append(Spot(node, key, parent, doc))
        if isinstance(node, MappingNode):
            for k, v in node.value:
                walk(k, None, node, doc)
                walk(v, k, node, doc)
        elif isinstance(node, SequenceNode):
            for v in node.value:
                walk(v, None, node, doc)

    for index, doc in enumerate(docs):
        walk(doc, None, None, index)
    return out


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_end(text: str, index: int) -> int:
    """Just past the line break of the line holding `index` (or the end of the text)."""
    found = text.find("\n", index)
    return len(text) if found < 0 else found + 1


def _region_end(text: str, value: Node) -> int:
    end = value.end_mark.index
    if end > 0 and text[end - 1] == "\n":
        return end
    start = _line_start(text, end)
    block = isinstance(value, (MappingNode, SequenceNode)) and not value.flow_style
    if block and not text[start:end].strip():
        return start
    return _line_end(text, end)


def _block_keys(text: str, found: list[Spot], at_line_start: bool = True) -> list[Spot]:
    """Values of block mappings whose key starts its line (nothing but spaces before)."""
    out = []
    for s in found:
        if s.key is None or not isinstance(s.parent, MappingNode) or s.parent.flow_style:
            continue
        start = s.key.start_mark.index
        before = text[_line_start(text, start) : start]
        if not at_line_start or not before.strip():
            out.append(s)
    return out


def _with(inp: FuzzInput, text: str) -> FuzzInput:
    return replace(inp, data=text.encode("utf-8", errors="surrogatepass"))


def delete_key(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    text = _text(inp)
    candidates = _block_keys(text, spots(text)) if text else []
    if not text or not candidates:
        return None
    s = _pick(rng, candidates)
    assert s.key is not None
    start = _line_start(text, s.key.start_mark.index)
    return _with(inp, text[:start] + text[_region_end(text, s.node) :])


def _insert(rng: random.Random) -> tuple[str, str]:
    return _pick(rng, INSERTS)


def insert_key(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    text = _text(inp)
    if not text:
        return None
    found = spots(text)
    key, value = _insert(rng)
    flows = [s for s in found if isinstance(s.node, MappingNode) and s.node.flow_style]
    blocks = _block_keys(text, found, at_line_start=False)
    if flows and (not blocks or rng.random() < 0.3):
        node = _pick(rng, flows).node
        at = node.start_mark.index + 1
        if text[node.start_mark.index] != "{":
            return None
        sep = ", " if node.value else ""
        value = value if "\n" not in value else "'x'"
        return _with(inp, text[:at] + f"{key}: {value}{sep}" + text[at:])
    if not blocks:
        return None
    s = _pick(rng, blocks)
    assert s.key is not None
    column = s.key.start_mark.column
    at = _region_end(text, s.node)
    lines = f"{key}: {value}".split("\n")
    new = "".join(" " * column + line + "\n" for line in lines)
    if at > 0 and text[at - 1] != "\n":
        new = "\n" + new
    return _with(inp, text[:at] + new + text[at:])


def duplicate_key(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    text = _text(inp)
    candidates = _block_keys(text, spots(text)) if text else []
    if not text or not candidates:
        return None
    s = _pick(rng, candidates)
    assert s.key is not None
    start, end = _line_start(text, s.key.start_mark.index), _region_end(text, s.node)
    chunk = text[start:end]
    if not chunk.endswith("\n"):
        chunk = "\n" + chunk
    return _with(inp, text[:end] + chunk + text[end:])


def _single_line_scalars(text: str, found: list[Spot]) -> list[Spot]:
    return [
        s
        for s in found
        if isinstance(s.node, ScalarNode)
        and s.node.style in (None, "'", '"')
        and s.node.start_mark.line == s.node.end_mark.line
        and s.node.end_mark.index > s.node.start_mark.index
    ]


def swap_scalars(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    text = _text(inp)
    candidates = _single_line_scalars(text, spots(text)) if text else []
    if not text or len(candidates) < 2:
        return None
    a, b = sorted(rng.sample(candidates, 2), key=lambda s: s.node.start_mark.index)
    a0, a1 = a.node.start_mark.index, a.node.end_mark.index
    b0, b1 = b.node.start_mark.index, b.node.end_mark.index
    if b0 < a1:
        return None
    return _with(inp, text[:a0] + text[b0:b1] + text[a1:b0] + text[a0:a1] + text[b1:])


def replace_scalar(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    text = _text(inp)
    candidates = _single_line_scalars(text, spots(text)) if text else []
    if not text or not candidates:
        return None
    s = _pick(rng, candidates)
    value = _pick(rng, VALUES)
    new = Writer(rng, value).flow(value)
    return _with(inp, text[: s.node.start_mark.index] + new + text[s.node.end_mark.index :])


def requote_scalar(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    text = _text(inp)
    candidates = _single_line_scalars(text, spots(text)) if text else []
    if not text or not candidates:
        return None
    s = _pick(rng, candidates)
    node = s.node
    assert isinstance(node, ScalarNode)
    start, end = node.start_mark.index, node.end_mark.index
    style = rng.choice(["plain", "raw", "'", '"', "block"])
    block = isinstance(s.parent, MappingNode) and not s.parent.flow_style
    if style == "block" and s.key is not None and block:
        base = s.key.start_mark.column
        lines = block_scalar(node.value, base, base + rng.choice([2, 4]), rng)
        if lines is not None:
            tail_end = text.find("\n", end)
            tail_end = len(text) if tail_end < 0 else tail_end
            new = lines[0] + text[end:tail_end] + "\n" + "".join(x + "\n" for x in lines[1:])
            return _with(inp, text[:start] + new + text[tail_end + 1 :])
    if style == "raw" and re.fullmatch(r"[A-Za-z0-9._/-][A-Za-z0-9._/ -]*", node.value):
        new = node.value.rstrip()
    else:
        new = scalar_text(node.value, None if style in ("plain", "raw", "block") else style)
    return _with(inp, text[:start] + new + text[end:])


def add_tag(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    text = _text(inp)
    candidates = _single_line_scalars(text, spots(text)) if text else []
    if not text or not candidates:
        return None
    s = _pick(rng, candidates)
    tag = _pick(rng, ("!!str ", "!!int ", "!custom ", "!!binary ", "!<tag:yaml.org,2002:str> "))
    at = s.node.start_mark.index
    return _with(inp, text[:at] + tag + text[at:])


def _colon(text: str, key: Node) -> int:
    return text.find(":", key.end_mark.index)


def _inside(a: Node, b: Node) -> bool:
    return b.start_mark.index <= a.start_mark.index and a.end_mark.index <= b.end_mark.index


def add_alias(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    """Anchor one mapping value and write another, later one as its alias."""
    text = _text(inp)
    if not text:
        return None
    values = [s for s in spots(text) if s.key is not None and isinstance(s.key, ScalarNode)]
    if len(values) < 2:
        return None
    first = _pick(rng, values)
    later = [
        s
        for s in values
        if s.doc == first.doc
        and s.node.start_mark.index >= first.node.end_mark.index
        and s.node is not first.node
        and not _inside(first.node, s.node)
    ]
    if not later:
        return None
    same = [s for s in later if s.key.value == first.key.value]  # type: ignore[union-attr]
    second = _pick(rng, same if same and rng.random() < 0.8 else later)
    name = f"fz{rng.randrange(1000)}"
    if "&" + name in text:
        return None

    def site(s: Spot) -> tuple[int, int, bool]:
        """(start, end) of the value's text, and whether it is a block collection."""
        block = isinstance(s.node, (MappingNode, SequenceNode)) and not s.node.flow_style
        if block:
            assert s.key is not None
            return _colon(text, s.key) + 1, _region_end(text, s.node), True
        return s.node.start_mark.index, s.node.end_mark.index, False

    a0, _, a_block = site(first)
    b0, b1, b_block = site(second)
    if a0 <= 0 or b0 <= 0 or "&" in text[a0 : first.node.start_mark.index]:
        return None
    alias = f" *{name}\n" if b_block else f"*{name}"
    text = text[:b0] + alias + text[b1:]
    anchor = f" &{name}" if a_block else f"&{name} "
    return _with(inp, text[:a0] + anchor + text[a0:])


def append_comment(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    text = _text(inp)
    if not text:
        return None
    lines = text.split("\n")
    index = rng.randrange(len(lines))
    comment = "# " + _pick(rng, COMMENTS)
    if rng.random() < 0.5:
        lines[index] += " " * rng.randint(1, 3) + comment
    else:
        lines.insert(index, " " * rng.randint(0, 8) + comment)
    return _with(inp, "\n".join(lines))


def document_end(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    text = _text(inp)
    if text is None:
        return None
    if inp.stream and "\n---" in text and rng.random() < 0.5:
        at = _pick(rng, [m.start() + 1 for m in re.finditer(r"\n---", text)])
        return _with(inp, text[:at] + "...\n" + text[at:])
    end = "" if text.endswith("\n") or not text else "\n"
    return _with(inp, text + end + _pick(rng, ("...\n", "...\n# after\n", "...", "--- \n")))


def line_ends(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    if b"\r\n" in inp.data:
        return replace(inp, data=inp.data.replace(b"\r\n", b"\n"))
    if rng.random() < 0.8:
        return replace(inp, data=inp.data.replace(b"\n", b"\r\n"))
    lines = inp.data.split(b"\n")
    return replace(
        inp, data=b"\n".join(x + b"\r" if rng.random() < 0.3 else x for x in lines[:-1]) + b"\n"
    )


_BYTES = (
    b"\x00",
    b"\t",
    b"\r",
    b"\xff",
    b"\xc3",
    b"'",
    b'"',
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"- ",
    b"#",
    b"&",
    b"*",
    b"!",
    b"|",
    b">",
    b"%",
    b"@",
    b"`",
    b" ",
    b"\n",
    b"\n---\n",
    b"\n...\n",
    "é".encode(),
    "\u2028".encode(),
    "\ufeff".encode(),
    b"\x85",
    b"{{",
)


def byte_level(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    data = inp.data
    if not data:
        return replace(inp, data=_pick(rng, _BYTES))
    at = rng.randrange(len(data) + 1)
    span = rng.randint(1, 24)
    op = rng.choice(["insert", "delete", "duplicate", "truncate", "flip", "indent", "bom"])
    if op == "insert":
        data = data[:at] + _pick(rng, _BYTES) + data[at:]
    elif op == "delete":
        data = data[:at] + data[at + span :]
    elif op == "duplicate":
        data = data[:at] + data[at : at + span] + data[at:]
    elif op == "truncate":
        data = data[:at]
    elif op == "flip" and at < len(data):
        data = data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]
    elif op == "indent":
        start = data.rfind(b"\n", 0, at) + 1
        data = data[:start] + b" " * rng.randint(1, 2) + data[start:]
    else:
        data = b"\xef\xbb\xbf" + data
    return replace(inp, data=data)


# Mutations of the list: by item, on the data, or in another style.


def _relayout(
    inp: FuzzInput, rng: random.Random, edit: Callable[[Layout], bool]
) -> FuzzInput | None:
    layout = layout_of(inp)
    if layout is None or not edit(layout):
        return None
    if layout.stream:
        style = "stream"
    else:
        style = rng.choices(["block", "flow", "json"], [8, 1, 1])[0]
        if all(not p.block for p in layout.items) and rng.random() < 0.5:
            style = "flow"
    out = render(layout, style, rng)
    return replace(out, origin=inp.origin)


def delete_item(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    def edit(layout: Layout) -> bool:
        if not layout.items:
            return False
        del layout.items[rng.randrange(len(layout.items))]
        return True

    return _relayout(inp, rng, edit)


def duplicate_item(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    def edit(layout: Layout) -> bool:
        if not layout.items:
            return False
        index = rng.randrange(len(layout.items))
        layout.items.insert(rng.randrange(len(layout.items) + 1), layout.items[index])
        return True

    return _relayout(inp, rng, edit)


def swap_items(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    def edit(layout: Layout) -> bool:
        if len(layout.items) < 2:
            return False
        rng.shuffle(layout.items)
        return True

    return _relayout(inp, rng, edit)


def _names(layout: Layout) -> list[dict[str, Any]]:
    return [
        p.data
        for p in layout.items
        if isinstance(p.data, dict)
        and p.data.get("kind") == "ModelService"
        and isinstance(p.data.get("metadata"), dict)
        and isinstance(p.data.get("spec"), dict)
        and isinstance(p.data["spec"].get("routing"), dict)
        and isinstance(p.data["metadata"].get("name"), str)
    ]


def insert_item(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    """A new item, often a workload for one of the list's ModelServices."""

    def edit(layout: Layout) -> bool:
        services = _names(layout)
        roll = rng.random()
        if services and roll < 0.6:
            ms = _pick(rng, services)
            ms = {**ms, "spec": dict(ms["spec"])}
            for role in ROLES:
                if isinstance(ms["spec"].get(role), dict):
                    ms["spec"][role] = dict(ms["spec"][role])
            obj = workload(rng, _pick(rng, list(WORKLOADS)), ms, _pick(rng, ROLES))
        elif roll < 0.8:
            obj = model_service(rng, layout.stream)
        else:
            obj = unrelated(rng, [s["metadata"]["name"] for s in services])
        layout.items.insert(rng.randrange(len(layout.items) + 1), write_item(obj, rng))
        return True

    return _relayout(inp, rng, edit)


def restyle_item(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    def edit(layout: Layout) -> bool:
        known = [i for i, p in enumerate(layout.items) if p.data is not _NO_DATA]
        if not known:
            return False
        index = _pick(rng, known)
        layout.items[index] = write_item(layout.items[index].data, rng)
        return True

    return _relayout(inp, rng, edit)


def _containers(value: Any) -> list[Any]:
    """Every collection inside `value`, with value itself."""
    out: list[Any] = []
    seen: set[int] = set()

    def walk(v: Any) -> None:
        if isinstance(v, (dict, list)) and id(v) not in seen:
            seen.add(id(v))
            out.append(v)
            for child in v.values() if isinstance(v, dict) else v:
                walk(child)

    walk(value)
    return out


def _edit_data(obj: Any, rng: random.Random) -> bool:
    found = _containers(obj)
    if not found:
        return False
    target = _pick(rng, found)
    op = rng.choice(["delete", "duplicate", "insert", "set", "swap", "share", "rename"])
    if isinstance(target, list):
        if not target:
            target.append(_pick(rng, VALUES))
            return True
        index = rng.randrange(len(target))
        if op == "delete":
            del target[index]
        elif op in ("duplicate", "share"):
            value = target[index]
            target.insert(
                index,
                value if op == "share" else json.loads(json.dumps(loaded(value), default=str)),
            )
        elif op == "swap" and len(target) > 1:
            other = rng.randrange(len(target))
            target[index], target[other] = target[other], target[index]
        else:
            target[index] = _pick(rng, VALUES)
        return True
    if not isinstance(target, dict):
        return False
    keys = list(target)
    if op == "insert" or not keys:
        key, value = _insert(rng)
        try:
            parsed = yaml.safe_load(value)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError):  # `!!int abc`
            parsed = value
        target[key] = parsed
        return True
    key = _pick(rng, keys)
    if op == "delete":
        del target[key]
    elif op == "set":
        target[key] = _pick(rng, VALUES)
    elif op == "swap" and len(keys) > 1:
        other = _pick(rng, keys)
        target[key], target[other] = target[other], target[key]
    elif op == "share":
        # Two places hold one object: written with an anchor and an alias. Never one that
        # holds the mapping it goes into: that would be a cycle.
        value = _pick(rng, found)
        if value is target or any(target is x for x in _containers(value)):
            return False
        target[key] = value
    elif op == "rename":
        target[key + _pick(rng, ("", "s", "_", " "))] = target.pop(key)
    else:
        target[f"{key}-copy"] = _copy(target[key])
    return True


def edit_item_data(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    def edit(layout: Layout) -> bool:
        known = [i for i, p in enumerate(layout.items) if isinstance(p.data, (dict, list))]
        if not known:
            return False
        index = _pick(rng, known)
        data = _copy(layout.items[index].data)
        for _ in range(rng.randint(1, 3)):
            _edit_data(data, rng)
        layout.items[index] = write_item(data, rng)
        return True

    return _relayout(inp, rng, edit)


def _copy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """A deep copy that keeps sharing (so anchors stay anchors)."""
    memo = {} if memo is None else memo
    if isinstance(value, dict):
        if id(value) not in memo:
            memo[id(value)] = {}
            memo[id(value)].update({k: _copy(v, memo) for k, v in value.items()})
        return memo[id(value)]
    if isinstance(value, list):
        if id(value) not in memo:
            memo[id(value)] = []
            memo[id(value)].extend(_copy(v, memo) for v in value)
        return memo[id(value)]
    return value


def change_list_style(inp: FuzzInput, rng: random.Random) -> FuzzInput | None:
    """The same items as another kind of list: block, flow, JSON, or a stream."""
    layout = layout_of(inp)
    if layout is None:
        return None
    style = rng.choice(["block", "flow", "json", "stream"])
    if style == "stream":
        layout.stream = True
        if layout.config is not None and layout.config.data is not _NO_DATA:
            layout.config = Piece(Writer(rng, layout.config.data).block(layout.config.data))
    elif layout.stream:
        layout.stream = False
        if layout.config is not None and layout.config.data is _NO_DATA:
            layout.config = None
        elif layout.config is not None:
            layout.config = write_item(layout.config.data, rng, "block")
    out = render(layout, style, rng)
    return replace(finish(out, rng), origin=inp.origin)


TEXT_MUTATIONS: tuple[Mutation, ...] = (
    delete_key,
    insert_key,
    duplicate_key,
    swap_scalars,
    replace_scalar,
    requote_scalar,
    add_tag,
    add_alias,
    append_comment,
    document_end,
    line_ends,
)
LIST_MUTATIONS: tuple[Mutation, ...] = (
    delete_item,
    duplicate_item,
    swap_items,
    insert_item,
    restyle_item,
    edit_item_data,
    change_list_style,
)
BYTE_MUTATIONS: tuple[Mutation, ...] = (byte_level,)
MUTATIONS = TEXT_MUTATIONS + LIST_MUTATIONS + BYTE_MUTATIONS
# Structural mutations first: most inputs should stay YAML that krmfn reads.
WEIGHTS = {m: 3 for m in TEXT_MUTATIONS} | {m: 3 for m in LIST_MUTATIONS} | {byte_level: 2}


def mutate(inp: FuzzInput, rng: random.Random, count: int) -> FuzzInput:
    names = []
    for _ in range(count):
        mutation = rng.choices(MUTATIONS, [WEIGHTS[m] for m in MUTATIONS])[0]
        # A CRLF file stays one: text added by a mutation gets CRLF too (mixed line ends
        # are line_ends' and byte_level's to make).
        crlf = inp.data.count(b"\r\n") == inp.data.count(b"\n") > 0
        if crlf and mutation not in (line_ends, byte_level):
            inp = replace(inp, data=inp.data.replace(b"\r\n", b"\n"))
        try:
            out = mutation(inp, rng)
        except RecursionError:
            out = None
        if crlf and mutation not in (line_ends, byte_level):
            inp = replace(inp, data=inp.data.replace(b"\n", b"\r\n"))
            if out is not None:
                lf = out.data.replace(b"\r\n", b"\n")
                out = replace(out, data=lf.replace(b"\n", b"\r\n"))
        if out is not None and len(out.data) < 200_000:
            inp = out
            names.append(mutation.__name__)
    suffix = " + " + " + ".join(names) if names else ""
    return replace(inp, origin=(inp.origin or "input") + suffix)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[FuzzInput]) -> FuzzInput:
    inp = draw(base)
    rng = draw(st.randoms(use_true_random=False))
    count = draw(st.integers(1, 4))
    return mutate(inp, rng, count)
