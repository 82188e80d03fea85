"""No input crashes the function, loses an item or leaks a secret.

A KRM function sits in GitOps pipelines with auto-prune: a crash, a dropped item or an
empty list deletes workloads. Each row of the bad-input matrix runs the real CLI in a
child process with a 2 GiB address-space limit and a timeout, so a hang or a memory blow-up
is a clean test failure and not a dead machine, and states the exact exit status, the
exact stderr lines (a pattern where only the gist is fixed) and what the output must be.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import yaml

from tests.golden import ROOT, Outcome
from tests.test_golden import strip_results

HEADER = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"
MEMORY_LIMIT = 2 << 30
TIMEOUT = 60

MS = """\
- apiVersion: llm-d.ai/v1alpha1
  kind: ModelService
  metadata:
    name: opt
    namespace: serving
  spec:
    routing:
      modelName: facebook/opt-125m
    modelArtifacts:
      uri: hf://facebook/opt-125m
    decode:
      replicas: 2
      containers:
      - name: vllm
        mountModelVolume: true
"""
WORKLOAD = """\
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: opt-decode
    namespace: serving
  spec:
    selector:
      matchLabels: {app: opt}
    template:
      metadata:
        labels: {app: opt}
      spec:
        containers:
        - name: vllm
          image: vllm/vllm-openai:v0.8.5
"""
UNTOUCHED = """\
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: settings   # not ours
    namespace: serving
  data:
    mode: 'on'
"""
MS_REF = "llm-d.ai/v1alpha1/ModelService/serving/opt"
WL_REF = "apps/v1/Deployment/serving/opt-decode"
APPLIED = "applied hf://facebook/opt-125m (emptyDir volume, HF_HOME) to Deployment serving/opt-decode (decode, by name)"


def resource_list(*items: str, tail: str = "") -> bytes:
    return (HEADER + "items:\n" + "".join(items) + tail).encode()


def alias_bomb(indent: str, levels: int = 9) -> str:
    """Nine lines of text, 9**9 (387 million) nodes once every alias is expanded."""
    lines = [f"{indent}l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"{indent}l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_limited(data: bytes, args: tuple[str, ...] = ()) -> Outcome:
    """The real CLI, bounded: a hang or a memory blow-up fails the test, not the machine."""
    proc = subprocess.run(
        [sys.executable, "-m", "krmfn", *args],
        input=data,
        capture_output=True,
        check=False,
        cwd=ROOT,
        timeout=TIMEOUT,
        preexec_fn=_limit_memory,
    )
    return Outcome(proc.stdout, proc.stderr, proc.returncode)


def items_text(output: bytes) -> list[str]:
    """Each item of an output ResourceList as the exact text it spans."""
    text = output.decode()
    root = yaml.compose(text, Loader=yaml.CSafeLoader)
    for key, value in root.value:
        if key.value == "items":
            return [text[n.start_mark.index : n.end_mark.index] for n in value.value]
    return []


def items_data(output: bytes) -> list[object]:
    return list(yaml.load(output, Loader=yaml.CSafeLoader)["items"])


def results_of(output: bytes) -> list[dict[str, object]]:
    data = yaml.load(output, Loader=yaml.CSafeLoader)
    return list(data.get("results") or [])


def results_text(output: bytes) -> str:
    """The results this run appended, as text: no reading of what the items hold."""
    text = output.decode()
    return text[len(strip_results(text)) :]


# What the output must be, given the input and the outcome.
Check = Callable[[bytes, Outcome], None]


def unchanged(data: bytes, outcome: Outcome) -> None:
    # Nothing could be read or nothing is ours: the very bytes that came in.
    assert outcome.stdout == data


def results_appended(data: bytes, outcome: Outcome) -> None:
    # An error leaves every item as it came in; only the results are added.
    assert strip_results(outcome.stdout.decode()) == data.decode()
    assert results_of(outcome.stdout)


def workload_applied(data: bytes, outcome: Outcome) -> None:
    # Every item is still there; only the target workload changed, and it got the volume.
    before, after = items_text(data), items_text(outcome.stdout)
    assert len(after) == len(before)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert len(changed) == 1
    workload = items_data(outcome.stdout)[changed[0]]
    assert isinstance(workload, dict)
    assert workload["kind"] in ("Deployment", "StatefulSet")
    volumes = workload["spec"]["template"]["spec"]["volumes"]
    assert {"name": "model-storage", "emptyDir": {}} in volumes


@dataclass(frozen=True)
class Row:
    data: bytes
    status: int
    stderr: list[str | re.Pattern[str]]
    output: Check
    xfail: str = ""
    args: tuple[str, ...] = field(default=())


def _ms_with(extra: str) -> str:
    return MS + extra


def _workload_with(extra: str) -> str:
    return WORKLOAD + extra


_DEEP = 10_000
_WRONG_TYPES = """\
- apiVersion: llm-d.ai/v1alpha1
  kind: ModelService
  metadata:
    name: opt
    namespace: serving
  spec:
    routing:
      modelName: [facebook/opt-125m]
      ports: {app_port: 8000}
    modelArtifacts:
      uri: 5
      authSecretName: [hf]
      size: {gi: 5}
      pullPolicy: 3
    decoupleScaling: "yes"
    decode:
      replicas: "2"
      containers:
      - name: 3
        image: [vllm]
        command: vllm serve
        args: --port=8000
        env: {HF_HOME: /x}
        envFrom: secret
        resources: [gpu]
        mountModelVolume: "true"
      initContainers: fetch
      acceleratorTypes: H100
    prefill: [vllm]
"""
_WRONG_TYPE_ERRORS = [
    f"[error] {MS_REF} spec.routing.modelName: must be a string, not a list",
    f"[error] {MS_REF} spec.routing.ports: must be a list, not a mapping",
    f"[error] {MS_REF} spec.modelArtifacts.uri: must be a string, not an integer",
    f"[error] {MS_REF} spec.modelArtifacts.authSecretName: must be a string, not a list",
    f"[error] {MS_REF} spec.modelArtifacts.size: must be a string, not a mapping",
    f"[error] {MS_REF} spec.modelArtifacts.pullPolicy: must be a string, not an integer",
    f"[error] {MS_REF} spec.decoupleScaling: must be a boolean, not a string",
    f"[error] {MS_REF} spec.decode.replicas: must be an integer, not a string",
    f"[error] {MS_REF} spec.decode.containers[0].name: must be a string, not an integer",
    f"[error] {MS_REF} spec.decode.containers[0].image: must be a string, not a list",
    f"[error] {MS_REF} spec.decode.containers[0].command: must be a list, not a string",
    f"[error] {MS_REF} spec.decode.containers[0].args: must be a list, not a string",
    f"[error] {MS_REF} spec.decode.containers[0].env: must be a list, not a mapping",
    f"[error] {MS_REF} spec.decode.containers[0].envFrom: must be a list, not a string",
    f"[error] {MS_REF} spec.decode.containers[0].resources: must be a mapping, not a list",
    f"[error] {MS_REF} spec.decode.containers[0].mountModelVolume: must be a boolean, not a string",
    f"[error] {MS_REF} spec.decode.initContainers: must be a list, not a string",
    f"[error] {MS_REF} spec.decode.acceleratorTypes: must be a mapping, not a string",
    f"[error] {MS_REF} spec.prefill: must be a mapping, not a list",
]
_CONTAINERS_AS_MAP = WORKLOAD.replace(
    "        containers:\n        - name: vllm\n          image: vllm/vllm-openai:v0.8.5\n",
    "        containers:\n          vllm: {image: vllm/vllm-openai:v0.8.5}\n",
)
_NO_CONTAINERS = WORKLOAD.replace(
    "        containers:\n        - name: vllm\n          image: vllm/vllm-openai:v0.8.5\n",
    "        hostNetwork: true\n",
)
_MS_WITH_IMAGE = MS.replace("      - name: vllm\n", "      - name: vllm\n        image: vllm:v2\n")
_LONG = "a" * 63


def _not_a_list(path: str) -> re.Pattern[str]:
    # The gist fixed, the wording free: who, where, and that a list was expected.
    return re.compile(
        rf"\[error\] {re.escape(WL_REF)} {re.escape(path)}: .*must be a list, not a (mapping|string)"
    )


ROWS: dict[str, Row] = {
    "empty stdin": Row(b"", 1, ["[error] input is empty: expected a ResourceList"], unchanged),
    "only a comment": Row(
        b"# nothing here\n", 1, ["[error] input is empty: expected a ResourceList"], unchanged
    ),
    "not YAML": Row(
        HEADER.encode() + b"items: [unclosed\n",
        1,
        ["[error] input is not valid YAML at line 4, column 1: did not find expected ',' or ']'"],
        unchanged,
    ),
    "not UTF-8 (Latin-1)": Row(
        resource_list(UNTOUCHED.replace("'on'", "caf\xe9")).decode().encode("latin-1"),
        1,
        ["[error] input is not UTF-8: byte 185 is invalid"],
        unchanged,
    ),
    "UTF-16 with its BOM": Row(
        resource_list(UNTOUCHED).decode().encode("utf-16"),
        1,
        ["[error] input is not UTF-8: byte 0 is invalid"],
        unchanged,
    ),
    "NUL character": Row(
        resource_list(UNTOUCHED, tail="# \x00\n"),
        1,
        [
            "[error] input is not valid YAML: unacceptable character #x0000: control characters"
            ' are not allowed   in "<unicode string>", position 189'
        ],
        unchanged,
    ),
    "a scalar": Row(
        b"hello\n", 1, ["[error] input is a YAML scalar, not a ResourceList"], unchanged
    ),
    "a list": Row(
        MS.encode(), 1, ["[error] input is a YAML sequence, not a ResourceList"], unchanged
    ),
    "a bare Deployment": Row(
        WORKLOAD.replace("\n  ", "\n").removeprefix("- ").encode(),
        1,
        ["[error] input has kind 'Deployment'; expected kind ResourceList (or List)"],
        unchanged,
    ),
    "two documents": Row(
        resource_list(UNTOUCHED) + b"---\n" + resource_list(UNTOUCHED),
        1,
        ["[error] input holds more than one YAML document; expected one ResourceList"],
        unchanged,
    ),
    "items a mapping": Row(
        HEADER.encode() + b"items:\n  opt: {kind: ModelService}\n",
        1,
        ["[error] ResourceList items is a YAML mapping, not a list"],
        unchanged,
    ),
    "items a scalar": Row(
        HEADER.encode() + b"items: opt\n",
        1,
        ["[error] ResourceList items is a YAML scalar, not a list"],
        unchanged,
    ),
    "items null": Row(HEADER.encode() + b"items:\n", 0, [], unchanged),
    "items that are not mappings": Row(
        resource_list("- 3\n- [a, b]\n- null\n- just text\n", UNTOUCHED), 0, [], unchanged
    ),
    "items that are not mappings, beside a ModelService": Row(
        resource_list("- 3\n- [a, b]\n", MS, "- null\n", WORKLOAD, "- just text\n"),
        0,
        [],
        workload_applied,
    ),
    "duplicate key in an untouched item": Row(
        resource_list(UNTOUCHED.replace("    mode: 'on'\n", "    mode: 'on'\n    mode: 'off'\n")),
        0,
        [],
        unchanged,
    ),
    "duplicate key in a target workload": Row(
        resource_list(
            MS,
            WORKLOAD.replace("          image: vllm", "          image: a\n          image: vllm"),
        ),
        1,
        [
            re.compile(
                rf"\[error\] {re.escape(WL_REF)}: ModelService serving/opt: Deployment"
                r" serving/opt-decode cannot be edited: .*duplicate key .?image.?.*"
            )
        ],
        results_appended,
    ),
    "duplicate key in a ModelService": Row(
        resource_list(
            MS.replace("      uri: hf://", "      uri: pvc://weights/opt\n      uri: hf://"),
            WORKLOAD,
        ),
        1,
        [re.compile(rf"\[error\] {re.escape(MS_REF)}.*duplicate key .?uri.?.*")],
        results_appended,
    ),
    "alias bomb in an untouched item": Row(
        resource_list(UNTOUCHED + alias_bomb("    ")), 0, [], unchanged
    ),
    "alias bomb in a ModelService": Row(
        resource_list(_ms_with("    extra:\n" + alias_bomb("      ")), WORKLOAD),
        1,
        [
            f"[error] {MS_REF}: cannot be read: it expands to more than 200000 YAML nodes"
            " (through aliases)"
        ],
        results_appended,
    ),
    "alias bomb in a target workload": Row(
        resource_list(MS, _workload_with("    extra:\n" + alias_bomb("      "))),
        1,
        [
            f"[error] {WL_REF}: ModelService serving/opt: Deployment serving/opt-decode cannot"
            " be edited: it expands to more than 200000 YAML nodes (through aliases)"
        ],
        results_appended,
    ),
    "alias bomb in the functionConfig": Row(
        resource_list(
            MS,
            WORKLOAD,
            tail="functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  data:\n"
            + alias_bomb("    "),
        ),
        1,
        [
            "[error] functionConfig cannot be read: it expands to more than 200000 YAML nodes"
            " (through aliases)"
        ],
        unchanged,
    ),
    "recursive alias in an untouched item": Row(
        resource_list(UNTOUCHED + "    loop: &loop [*loop]\n"), 0, [], unchanged
    ),
    "recursive alias in a ModelService": Row(
        resource_list(_ms_with("    loop: &loop [*loop]\n"), WORKLOAD),
        1,
        [f"[error] {MS_REF}: cannot be read: it refers to itself through a YAML alias"],
        results_appended,
    ),
    "recursive alias in a target workload": Row(
        resource_list(MS, _workload_with("    loop: &loop [*loop]\n")),
        1,
        [
            f"[error] {WL_REF}: ModelService serving/opt: Deployment serving/opt-decode cannot"
            " be edited: it refers to itself through a YAML alias"
        ],
        results_appended,
    ),
    "10,000 nested flow lists (past the 512-level bound)": Row(
        resource_list(MS, WORKLOAD, "- " + "[" * _DEEP + "]" * _DEEP + "\n"),
        1,
        ["[error] input nests collections deeper than 512 levels (line 34)"],
        unchanged,
    ),
    "a million nested flow lists (C stack)": Row(
        resource_list("- " + "[" * 1_000_000 + "]" * 1_000_000 + "\n"),
        1,
        ["[error] input nests collections deeper than 512 levels (line 4)"],
        unchanged,
    ),
    "500 nested lists in an untouched item": Row(
        resource_list(MS, WORKLOAD, "- " + "[" * 500 + "]" * 500 + "\n"), 0, [], workload_applied
    ),
    "500 nested lists in a ModelService": Row(
        resource_list(_ms_with("    deep: " + "[" * 500 + "]" * 500 + "\n"), WORKLOAD),
        1,
        [f"[error] {MS_REF}: cannot be read: it is nested deeper than 100 levels"],
        results_appended,
    ),
    "500 nested lists in a target workload": Row(
        resource_list(MS, _workload_with("    deep: " + "[" * 500 + "]" * 500 + "\n")),
        1,
        [
            f"[error] {WL_REF}: ModelService serving/opt: Deployment serving/opt-decode cannot"
            " be edited: it is nested deeper than 100 levels"
        ],
        results_appended,
    ),
    "input over the 64 MiB limit": Row(
        resource_list(UNTOUCHED + "    big: '" + "x" * (64 << 20) + "'\n"),
        1,
        ["[error] input is 67109063 bytes; the limit is 67108864 bytes (64 MiB)"],
        unchanged,
    ),
    "CRLF line ends, nothing to do": Row(
        resource_list(UNTOUCHED).replace(b"\n", b"\r\n"),
        0,
        [],
        unchanged,
    ),
    "tab indentation": Row(
        resource_list(UNTOUCHED.replace("    mode:", "\tmode:")),
        1,
        [
            "[error] input is not valid YAML at line 10, column 1: found character that cannot"
            " start any token"
        ],
        unchanged,
    ),
    "tabs as separators in a target workload": Row(
        resource_list(
            MS,
            WORKLOAD.replace(
                "          image: vllm/vllm-openai:v0.8.5\n",
                "          image:\tvllm/vllm-openai:v0.8.5\t# pinned\n",
            ),
        ),
        0,
        [],
        workload_applied,
    ),
    "JSON, nothing to do": Row(
        json.dumps(
            {"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": [{}]}
        ).encode(),
        0,
        [],
        unchanged,
    ),
    "a ModelService with every field of the wrong type": Row(
        resource_list(_WRONG_TYPES, WORKLOAD), 1, _WRONG_TYPE_ERRORS, results_appended
    ),
    "a ModelService whose spec is a list": Row(
        resource_list(MS.replace("  spec:\n", "  spec: [a]\n  x:\n"), WORKLOAD),
        1,
        [f"[error] {MS_REF} spec: must be a mapping, not a list"],
        results_appended,
    ),
    "a ModelService without a name": Row(
        resource_list(
            MS.replace("    name: opt\n", ""),
            WORKLOAD.replace("name: opt-decode", "name: decode"),
        ),
        1,
        [
            re.compile(
                r"\[error\] llm-d\.ai/v1alpha1/ModelService/serving/ metadata\.name: .*required.*"
            )
        ],
        results_appended,
    ),
    "two ModelServices claiming one workload": Row(
        resource_list(
            MS,
            MS.replace("name: opt\n", "name: other\n"),
            WORKLOAD.replace(
                "    name: opt-decode\n",
                "    name: shared\n    labels:\n      llm-d.ai/model: facebook-opt-125m\n"
                "      llm-d.ai/role: decode\n",
            ),
        ),
        1,
        [
            f"[error] {MS_REF}: Deployment serving/shared is also claimed by ModelService"
            " serving/other (by labels); a workload can belong to one ModelService only",
            "[error] llm-d.ai/v1alpha1/ModelService/serving/other: Deployment serving/shared is"
            " also claimed by ModelService serving/opt (by labels); a workload can belong to one"
            " ModelService only",
        ],
        results_appended,
    ),
    "a workload without containers": Row(
        resource_list(MS, _NO_CONTAINERS),
        1,
        [
            f"[error] {WL_REF} spec.decode.containers[0]: ModelService serving/opt:"
            " spec.decode.containers[0] names container 'vllm', which Deployment"
            " serving/opt-decode does not have; give it an image to add it, or fix the name"
        ],
        results_appended,
    ),
    "a workload whose containers is a mapping": Row(
        resource_list(_MS_WITH_IMAGE, _CONTAINERS_AS_MAP),
        1,
        [_not_a_list("spec.template.spec.containers")],
        results_appended,
    ),
    "a workload whose volumes is a mapping": Row(
        resource_list(MS, _workload_with("        volumes: {cache: {emptyDir: {}}}\n")),
        1,
        [_not_a_list("spec.template.spec.volumes")],
        results_appended,
    ),
    "a workload whose env is a mapping": Row(
        resource_list(MS, _workload_with("          env: {HF_HOME: /x}\n")),
        1,
        [_not_a_list("spec.template.spec.containers[0].env")],
        results_appended,
    ),
    "a volume already mounted at /model-cache": Row(
        resource_list(
            MS,
            _workload_with(
                "          volumeMounts: [{name: cache, mountPath: /model-cache/}]\n"
                "        volumes: [{name: cache, emptyDir: {}}]\n"
            ),
        ),
        1,
        [
            f"[error] {WL_REF} spec.template.spec.containers[0].volumeMounts[0]: ModelService"
            " serving/opt: Deployment serving/opt-decode container 'vllm' already mounts volume"
            " 'cache' at /model-cache; remove it or move it, the model volume 'model-storage'"
            " goes there"
        ],
        results_appended,
    ),
    "a name whose sanitised role names are cut to 63 and collide": Row(
        resource_list(
            MS.replace("name: opt\n", f"name: {_LONG}\n")
            + "    prefill:\n      containers:\n      - name: vllm\n",
            WORKLOAD.replace("name: opt-decode", f"name: {_LONG}"),
        ),
        1,
        [re.compile(rf"\[error\] llm-d\.ai/v1alpha1/ModelService/serving/{_LONG} .*{_LONG}.*63.*")],
        results_appended,
    ),
    "a model name over 63 characters after sanitising": Row(
        resource_list(
            MS.replace("modelName: facebook/opt-125m", "modelName: " + "Org/" * 20 + "model"),
            WORKLOAD,
        ),
        0,
        [],
        workload_applied,
    ),
    "a model name cut to 63 ending in '-'": Row(
        resource_list(
            MS.replace("modelName: facebook/opt-125m", "modelName: " + "a" * 62 + "/b"),
            WORKLOAD,
        ),
        1,
        [
            f"[error] {MS_REF} spec.routing.modelName: '{'a' * 62}/b' sanitises to"
            f" '{'a' * 62}-', which is not a valid DNS-1123 label (lower-case letters, digits"
            " and '-', starting and ending with a letter or digit, at most 63 characters)"
        ],
        results_appended,
    ),
    "stream: empty": Row(b"", 0, [], unchanged, args=("--stream",)),
    "stream: not YAML": Row(
        b"a: [\n",
        1,
        ["[error] input is not valid YAML at line 2, column 1: did not find expected node content"],
        unchanged,
        args=("--stream",),
    ),
    "stream: alias bomb": Row(
        (MS.replace("\n  ", "\n").removeprefix("- ") + "extra:\n" + alias_bomb("  ")).encode()
        + b"---\n"
        + WORKLOAD.replace("\n  ", "\n").removeprefix("- ").encode(),
        1,
        [
            f"[error] {MS_REF}: cannot be read: it expands to more than 200000 YAML nodes"
            " (through aliases)"
        ],
        unchanged,
        args=("--stream",),
    ),
}


def _param(name: str, row: Row) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=row.xfail)] if row.xfail else []
    return pytest.param(row, id=name, marks=marks)


def _line_matches(expected: str | re.Pattern[str], line: str) -> bool:
    if isinstance(expected, str):
        return expected == line
    return expected.fullmatch(line) is not None


@pytest.mark.parametrize("row", [_param(n, r) for n, r in ROWS.items()])
def test_bad_input(row: Row) -> None:
    outcome = run_limited(row.data, row.args)
    stderr = outcome.stderr.decode(errors="replace")
    assert "Traceback" not in stderr
    assert outcome.status in (0, 1)
    lines = stderr.splitlines()
    assert len(lines) == len(row.stderr), lines
    for expected, line in zip(row.stderr, lines, strict=True):
        assert _line_matches(expected, line), line
    assert outcome.status == row.status
    row.output(row.data, outcome)


# Inputs that are fine, written in an unusual way, must give what the usual way gives.


def _plain_run(data: bytes) -> Outcome:
    outcome = run_limited(data)
    assert outcome.status == 0, outcome.stderr.decode()
    return outcome


def test_crlf_input_is_applied_like_lf() -> None:
    lf = resource_list(MS, WORKLOAD, UNTOUCHED)
    crlf = run_limited(lf.replace(b"\n", b"\r\n"))
    assert crlf.status == 0
    assert crlf.stderr == b""
    assert crlf.stdout.replace(b"\r\n", b"\n") == _plain_run(lf).stdout


def test_crlf_untouched_items_keep_their_bytes() -> None:
    crlf = resource_list(MS, WORKLOAD, UNTOUCHED).replace(b"\n", b"\r\n")
    outcome = run_limited(crlf)
    assert UNTOUCHED.replace("\n", "\r\n").encode() in outcome.stdout
    assert MS.replace("\n", "\r\n").encode() in outcome.stdout


def test_bom_input_is_applied_like_without() -> None:
    plain = resource_list(MS, WORKLOAD, UNTOUCHED)
    outcome = run_limited(b"\xef\xbb\xbf" + plain)
    assert outcome.status == 0
    assert outcome.stderr == b""
    # Keeping the byte order mark or not are both fine; nothing else may differ.
    assert outcome.stdout.removeprefix(b"\xef\xbb\xbf") == _plain_run(plain).stdout


def test_bom_input_with_nothing_to_do_passes_through() -> None:
    data = b"\xef\xbb\xbf" + resource_list(UNTOUCHED)
    outcome = run_limited(data)
    assert (outcome.status, outcome.stderr) == (0, b"")
    assert outcome.stdout.removeprefix(b"\xef\xbb\xbf") == data.removeprefix(b"\xef\xbb\xbf")


def test_json_input_gives_json_output() -> None:
    # kustomize and Argo CD may hand over JSON; what comes back must still be JSON.
    items = [yaml.load(x, Loader=yaml.CSafeLoader)[0] for x in (MS, WORKLOAD, UNTOUCHED)]
    data = json.dumps(
        {"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": items}
    ).encode()
    outcome = run_limited(data)
    assert (outcome.status, outcome.stderr) == (0, b"")
    out = json.loads(outcome.stdout)
    assert [i["kind"] for i in out["items"]] == ["ModelService", "Deployment", "ConfigMap"]
    assert out["items"][0] == items[0]
    assert out["items"][2] == items[2]
    assert {"name": "model-storage", "emptyDir": {}} in out["items"][1]["spec"]["template"]["spec"][
        "volumes"
    ]
    assert out["results"] == [
        {
            "message": APPLIED,
            "severity": "info",
            "resourceRef": {
                "apiVersion": "llm-d.ai/v1alpha1",
                "kind": "ModelService",
                "name": "opt",
                "namespace": "serving",
            },
        }
    ]


def test_fifty_megabyte_document() -> None:
    # One large ConfigMap beside a ModelService: applied, and the big item kept byte for byte.
    lines = "".join(f"    key{i:07d}: {'x' * 80}\n" for i in range(500_000))
    big = "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: big}\n  data:\n" + lines
    data = resource_list(MS, WORKLOAD, big)
    assert len(data) > 47_000_000
    outcome = run_limited(data)
    assert (outcome.status, outcome.stderr) == (0, b"")
    workload_applied(data, outcome)
    assert outcome.stdout.count(big.encode()) == 1
    assert results_of(outcome.stdout)[0]["message"] == APPLIED


def test_an_output_pipe_closed_by_its_reader_is_one_error_line() -> None:
    # `krmfn < list.yaml | head`: the reader is gone before the output is written.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "krmfn"],
            input=resource_list(MS, WORKLOAD),
            stdout=write_end,
            stderr=subprocess.PIPE,
            check=False,
            cwd=ROOT,
            timeout=TIMEOUT,
        )
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (
        1,
        b"[error] the output could not be written: its reader closed the pipe\n",
    )


# Secrets: never read, never printed.

TOKEN = "hf_SeCrEtToKeN0123456789abcdef"
TOKEN_NAMES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "OPENAI_API_KEY", "DB_PASSWORD")


def _no_secret(outcome: Outcome, *secrets: str) -> None:
    shown = outcome.stderr.decode() + results_text(outcome.stdout)
    for secret in secrets:
        assert secret not in shown


def test_secret_items_are_neither_read_nor_printed() -> None:
    # A tag no reader knows: any attempt to construct the Secret would fail loudly. It is
    # named like the target and sits in its namespace, which must not make it one.
    secret = (
        "- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: opt-decode\n"
        "    namespace: serving\n  type: Opaque\n"
        f"  data:\n    HF_TOKEN: !vault aGZfU2VDckV0\n  stringData:\n    HF_TOKEN: {TOKEN}\n"
    )
    data = resource_list(secret, MS, WORKLOAD)
    outcome = run_limited(data)
    assert (outcome.status, outcome.stderr) == (0, b"")
    assert items_text(outcome.stdout)[0] == items_text(data)[0]
    _no_secret(outcome, TOKEN, "aGZfU2VDckV0")


def test_literal_hf_token_gets_a_warning_without_the_value() -> None:
    data = resource_list(
        MS,
        _workload_with(f"          env:\n          - name: HF_TOKEN\n            value: {TOKEN}\n"),
    )
    outcome = run_limited(data)
    assert outcome.status == 0
    lines = outcome.stderr.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"[warning] {WL_REF} spec.template.spec.containers[0].env[0]")
    assert "Secret" in lines[0]
    _no_secret(outcome, TOKEN)
    workload_applied(data, outcome)


def test_literal_hf_token_in_a_model_service_gets_a_warning() -> None:
    data = resource_list(
        MS.replace(
            "        mountModelVolume: true\n",
            f"        mountModelVolume: true\n        env: [{{name: HF_TOKEN, value: {TOKEN}}}]\n",
        ),
        WORKLOAD,
    )
    outcome = run_limited(data)
    assert outcome.status == 0
    lines = outcome.stderr.decode().splitlines()
    assert len(lines) == 1
    # Said on the ModelService or on the workload it was copied to: both reach the user.
    assert lines[0].startswith("[warning] ")
    assert "HF_TOKEN" in lines[0]
    assert "Secret" in lines[0]
    _no_secret(outcome, TOKEN)


def test_replaced_literal_token_is_not_copied_into_the_record() -> None:
    data = resource_list(
        MS.replace(
            "      uri: hf://facebook/opt-125m\n",
            "      uri: hf://facebook/opt-125m\n      authSecretName: hf\n",
        ),
        _workload_with(f"          env:\n          - name: HF_TOKEN\n            value: {TOKEN}\n"),
    )
    outcome = run_limited(data)
    assert outcome.status == 0
    workload = items_data(outcome.stdout)[1]
    assert isinstance(workload, dict)
    env = workload["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf", "key": "HF_TOKEN"}},
    } in env
    assert TOKEN.encode() not in outcome.stdout


@pytest.mark.parametrize("name", TOKEN_NAMES)
@pytest.mark.parametrize(
    "value",
    [
        f"{TOKEN}{{{{ .Nope }}}}",  # unknown variable
        f"{TOKEN} {{{{ .Nope",  # unclosed action
        f'{{{{ "{TOKEN}" | nope }}}}',  # unknown function, the token inside the action
    ],
    ids=["unknown variable", "unclosed action", "token in the action"],
)
def test_token_like_env_values_never_in_messages(name: str, value: str) -> None:
    quoted = json.dumps(value)
    for data in (
        resource_list(
            MS,
            _workload_with(
                f"          env:\n          - name: {name}\n            value: {quoted}\n"
            ),
        ),
        resource_list(
            MS.replace(
                "        mountModelVolume: true\n",
                f"        mountModelVolume: true\n        env: [{{name: {name}, value: {quoted}}}]\n",
            ),
            WORKLOAD,
        ),
    ):
        outcome = run_limited(data)
        assert outcome.status == 1
        assert outcome.stderr.decode().startswith("[error] ")
        _no_secret(outcome, TOKEN)
        assert strip_results(outcome.stdout.decode()) == data.decode()


def test_duplicate_key_in_a_token_env_does_not_print_the_values() -> None:
    # A parser's duplicate-key message quotes both values; it must not reach the user here.
    data = resource_list(
        MS,
        _workload_with(
            f"          env:\n          - name: HF_TOKEN\n            value: {TOKEN}\n"
            f"            value: {TOKEN[::-1]}\n"
        ),
    )
    outcome = run_limited(data)
    assert outcome.status == 1
    _no_secret(outcome, TOKEN, TOKEN[::-1])
    assert strip_results(outcome.stdout.decode()) == data.decode()
