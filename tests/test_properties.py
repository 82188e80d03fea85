"""Properties over generated ResourceLists (see tests/strategies.py), 300 examples each.

The function is called in-process (no child process per example) so the whole file runs
in about a minute on two cores. Generation is derandomized and uses no example database,
so CI runs exactly the examples a developer ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from krmfn.krm import run as run_function
from krmfn.processor import ModelArtifactsFunction
from tests.golden import ROOT
from tests.strategies import (
    Case,
    GenItem,
    cases,
    in_list,
    model_service,
    model_service_specs,
    render_item,
)
from tests.test_golden import strip_results

EXAMPLES = 300
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)


def run(data: bytes) -> tuple[bytes, list[str], bool]:
    outcome = run_function(ModelArtifactsFunction(), data)
    return outcome.output, outcome.stderr, outcome.failed


def spans(text: str) -> list[str]:
    """Each item of a ResourceList as the exact text it spans."""
    root = yaml.compose(text, Loader=yaml.CSafeLoader)
    for key, value in root.value:
        if key.value == "items" and isinstance(value, yaml.SequenceNode):
            return [text[n.start_mark.index : n.end_mark.index] for n in value.value]
    return []


def results(output: bytes) -> list[dict[str, Any]]:
    return list(yaml.load(output, Loader=yaml.CSafeLoader).get("results") or [])


@PROPERTY
@given(cases())
def test_output_always_parses(case: Case) -> None:
    out, lines, failed = run(case.data)
    root = yaml.load(out, Loader=yaml.CSafeLoader)
    assert root["kind"] in ("ResourceList", "List")
    found = results(out)
    assert failed == any(r["severity"] == "error" for r in found)
    assert len(lines) == sum(r["severity"] != "info" for r in found)
    assert all("Traceback" not in line and "internal error" not in line for line in lines)


@PROPERTY
@given(cases())
def test_item_count_never_drops(case: Case) -> None:
    out, _, _ = run(case.data)
    items = yaml.load(out, Loader=yaml.CSafeLoader)["items"] or []
    assert len(items) == len(case.items)
    assert [i["kind"] for i in items] == [i.obj["kind"] for i in case.items]


@PROPERTY
@given(cases())
def test_items_not_owned_are_byte_identical(case: Case) -> None:
    out, _, _ = run(case.data)
    before, after = spans(case.text), spans(out.decode())
    assert len(after) == len(before)
    for item, old, new in zip(case.items, before, after, strict=True):
        if not item.owned:
            assert new == old


@PROPERTY
@given(cases())
def test_deterministic(case: Case) -> None:
    assert run(case.data) == run(case.data)


@PROPERTY
@given(cases())
def test_second_run_is_a_no_op(case: Case) -> None:
    out, lines, failed = run(case.data)
    assume(not _comments_dropped(lines))
    again = run(strip_results(out.decode()).encode())
    assert again == (out, lines, failed)


@st.composite
def edits(draw: st.DrawFn) -> tuple[Case, int, GenItem]:
    """A case of valid ModelServices and, for one of them, an edited version: same name,
    namespace, roles and modelName (so the same workloads are its targets), anything
    else drawn anew."""
    case = draw(cases(valid=True))
    indexes = [i for i, item in enumerate(case.items) if item.obj["kind"] == "ModelService"]
    index = draw(
        st.sampled_from([i for i in indexes if case.items[i].obj["apiVersion"].startswith("llm-d")])
    )
    old = case.items[index].obj
    present = tuple(r for r in ("decode", "prefill") if r in old["spec"])
    spec = draw(
        model_service_specs(valid=True, present=present, model=old["spec"]["routing"]["modelName"])
    )
    obj = model_service(old["metadata"]["name"], old["metadata"].get("namespace", ""), spec)
    rng = draw(st.randoms(use_true_random=False))
    return case, index, GenItem(obj, render_item(obj, rng), owned=False)


def _edited(text: str, case: Case, index: int, new: GenItem) -> str:
    old_block = in_list(case.items[index].text, case.indent)
    assert text.count(old_block) == 1
    return text.replace(old_block, in_list(new.text, case.indent))


def _comments_dropped(lines: list[str]) -> bool:
    """Whether a run had to write an item without its comments: ruamel.yaml cannot write
    some commented flow entries back (test_a_commented_flow_entry_before_a_block_entry_keeps_
    the_comments). The warning comes once, on the run that dropped them, so rerun
    properties cannot hold for the results of an input like that; it is left out of them."""
    return any("its comments could not be kept" in line for line in lines)


def _converge(edit: tuple[Case, int, GenItem]) -> tuple[bytes, bytes]:
    """(the output of a run on the rewritten list after the edit, that of a fresh run)"""
    case, index, new = edit
    first, first_lines, first_failed = run(case.data)
    fresh, fresh_lines, fresh_failed = run(_edited(case.text, case, index, new).encode())
    # An error leaves the workloads as they came in: rewritten ones stay rewritten then.
    assume(not first_failed and not fresh_failed)
    # A rerun that drops comments where the first and the fresh run kept them still fails.
    assume(not _comments_dropped(first_lines) and not _comments_dropped(fresh_lines))
    again, _, _ = run(_edited(strip_results(first.decode()), case, index, new).encode())
    return again, fresh


@PROPERTY
@given(edits())
def test_run_after_an_edit_equals_a_fresh_run(edit: tuple[Case, int, GenItem]) -> None:
    again, fresh = _converge(edit)
    # Same objects, record annotations included, so the next run behaves the same too.
    assert yaml.load(again, Loader=yaml.CSafeLoader) == yaml.load(fresh, Loader=yaml.CSafeLoader)


@pytest.mark.xfail(
    strict=True,
    reason="a value the function replaced and later restores (a user's HF_HOME env var or"
    " model-storage volume) comes back without its comments and quotes; see"
    " test_restored_value_keeps_its_comments_and_quotes",
)
# No shrinking: this is known to fail, and shrinking would take minutes of every run.
@settings(PROPERTY, phases=[Phase.explicit, Phase.generate])
@given(edits())
def test_run_after_an_edit_equals_a_fresh_run_byte_for_byte(
    edit: tuple[Case, int, GenItem],
) -> None:
    again, fresh = _converge(edit)
    assert again.decode() == fresh.decode()


_DRIVER = """
import json, sys
from krmfn.krm import run
from krmfn.processor import ModelArtifactsFunction
out = [run(ModelArtifactsFunction(), t.encode()) for t in json.load(sys.stdin)]
print(json.dumps([[o.output.decode(), o.stderr, o.failed] for o in out]))
"""


def test_deterministic_across_processes() -> None:
    # Two interpreters with different string hashing: no output may depend on set or
    # dict order that hashing decides.
    texts: list[str] = []

    @PROPERTY
    @given(cases())
    def collect(case: Case) -> None:
        texts.append(case.text)

    collect()
    assert len(texts) >= EXAMPLES
    outputs = []
    for seed in ("1", "2"):
        proc = subprocess.run(
            [sys.executable, "-c", _DRIVER],
            input=json.dumps(texts).encode(),
            capture_output=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=300,
        )
        outputs.append(json.loads(proc.stdout))
    assert outputs[0] == outputs[1]
    here = [[o.decode(), lines, failed] for o, lines, failed in map(run, map(str.encode, texts))]
    assert outputs[0] == here


@pytest.mark.xfail(
    strict=True,
    reason="a comment ending a one-line flow workload keeps its old column when the line"
    " gets shorter on a rerun (padded with spaces), while a fresh run puts it one space"
    " after the content: a rerun after an edit is not byte-equal to a fresh run",
)
def test_comment_after_a_flow_workload_converges() -> None:
    ms = (
        "- apiVersion: llm-d.ai/v1alpha1\n  kind: ModelService\n  metadata: {name: opt}\n"
        "  spec:\n    routing: {modelName: facebook/opt-125m}\n    modelArtifacts: {uri: URI}\n"
        "    decode:\n      containers: [{name: vllm, mountModelVolume: true}]\n"
    )
    workload = (
        "- {apiVersion: apps/v1, kind: Deployment, metadata: {name: opt-decode}, spec:"
        " {selector: {matchLabels: {app: x}}, template: {metadata: {labels: {app: x}}, spec:"
        " {containers: [{name: vllm, image: vllm}]}}}}  # pinned\n"
    )
    text = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n" + ms + workload
    old, new = "oci://registry.example.com/models/opt:v1", "pvc://weights"
    first, _, failed = run(text.replace("URI", old).encode())
    assert not failed
    fresh, _, _ = run(text.replace("URI", new).encode())
    again, _, _ = run(strip_results(first.decode()).replace(old, new).encode())
    assert again.decode() == fresh.decode()


_LIST = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"
_MS = """\
- apiVersion: llm-d.ai/v1alpha1
  kind: ModelService
  metadata: {name: opt}
  spec:
    routing: {modelName: facebook/opt-125m}
    modelArtifacts: {uri: URI}
    decode:
      containers:
      - name: vllm
        env: [{name: VLLM_LOG, value: debug}]
        mountModelVolume: true
"""
_WORKLOAD = """\
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: opt-decode}
  spec:
    selector: {matchLabels: {app: x}}
    template:
      metadata: {labels: {app: x}}
      spec:
        containers:
        - name: vllm
          image: vllm
          env:  # ENV
"""


def test_appended_env_after_a_commented_flow_entry_is_valid_yaml() -> None:
    # ruamel would write `- name: VLLM_LOG value: debug` here; the item is written again
    # without its comments, with a warning, rather than as text that is not YAML.
    text = (
        _LIST
        + _MS.replace("URI", "pvc://weights")
        + _WORKLOAD
        + ("          - {name: HF_HOME, value: /somewhere}  # mine\n")
    )
    out, _, failed = run(text.encode())
    assert not failed
    env = yaml.load(out, Loader=yaml.CSafeLoader)["items"][1]["spec"]["template"]["spec"][
        "containers"
    ][0]["env"]
    assert env == [
        {"name": "HF_HOME", "value": "/somewhere"},
        {"name": "VLLM_LOG", "value": "debug"},
    ]


def test_a_replaced_flow_entry_keeps_its_comment_after_the_new_entry() -> None:
    # ruamel would write `-   # mine` and then `name: HF_HOME value: ...` (not YAML); the
    # comment goes after the last value of the new entry, and a second run changes nothing.
    text = (
        _LIST
        + _MS.replace("URI", "hf://facebook/opt-125m")
        + _WORKLOAD
        + "          - {name: HF_HOME, value: /somewhere}  # mine\n          # more\n"
        + "          imagePullPolicy: Always\n"
    )
    out, lines, failed = run(text.encode())
    assert (lines, failed) == ([], False)
    assert (
        "          env:  # ENV\n"
        "          - name: HF_HOME\n"
        "            value: /model-cache                 # mine\n"
        "          # more\n"
        "          - name: VLLM_LOG\n"
    ) in out.decode()
    assert run(strip_results(out.decode()).encode())[0] == out


@pytest.mark.xfail(
    strict=True,
    reason="ruamel.yaml 0.19 writes `containers:  # c` / `- {name: a}  # b` / `- name: b`"
    " / `  image: x` back as `- name: b image: x` (not YAML), with or without an edit; the"
    " item is written without its comments, with a warning (found by a random property run)",
)
def test_a_commented_flow_entry_before_a_block_entry_keeps_the_comments() -> None:
    workload = _WORKLOAD.replace(
        "        containers:\n        - name: vllm\n          image: vllm\n          env:  # ENV\n",
        "        containers:  # both\n        - {name: init, image: busybox}  # first\n"
        "        - name: vllm\n          image: vllm\n",
    )
    out, lines, failed = run((_LIST + _MS.replace("URI", "pvc://weights") + workload).encode())
    assert (lines, failed) == ([], False)
    assert "        containers:  # both\n" in out.decode()
    assert "        - {name: init, image: busybox}  # first\n" in out.decode()


def test_args_emptied_by_an_edit_keep_their_comments_and_equal_a_fresh_run() -> None:
    # The first run fills the workload's commented `args: []`; after an edit that drops the
    # ModelService's args it is empty again. ruamel would write its comments before the
    # `[]` (`args:  # mine` then `[]`: not YAML), and then the comments were all dropped.
    ms = _MS.replace("URI", "pvc://weights").replace(
        "        env: [{name: VLLM_LOG, value: debug}]\n", "        ARGS"
    )
    workload = _WORKLOAD.replace(
        "          env:  # ENV\n",
        "          args: []  # mine\n          # more about args\n          env: []  # env\n",
    )
    with_args = _LIST + ms.replace("ARGS", "args: [--port=8000]\n") + workload
    without = _LIST + ms.replace("        ARGS", "") + workload
    first, _, failed = run(with_args.encode())
    assert not failed
    edited = strip_results(first.decode()).replace("        args: [--port=8000]\n", "")
    again, lines, _ = run(edited.encode())
    fresh, _, _ = run(without.encode())
    assert lines == []
    assert again.decode() == fresh.decode()
    assert "          args: []  # mine\n          # more about args\n" in again.decode()


def test_a_tagged_scalar_is_read_back_by_ruamel_and_keeps_its_comment() -> None:
    # libyaml's reading of `!!str 8000` is not plainly the edited data (a plain 8000 is an
    # int to a resolver), so ruamel reads the text back too; it agrees, and the comment stays.
    workload = _WORKLOAD.replace(
        "  metadata: {name: opt-decode}\n",
        "  metadata:\n    name: opt-decode\n    annotations:\n"
        "      port: !!str 8000  # a string, by tag\n",
    )
    out, lines, failed = run((_LIST + _MS.replace("URI", "pvc://weights") + workload).encode())
    assert (failed, lines) == (False, [])
    assert "      port: !!str 8000  # a string, by tag\n" in out.decode()
    assert "          env:  # ENV\n" in out.decode()


@pytest.mark.xfail(
    strict=True,
    reason="a value the function replaced (a user's HF_HOME) is restored, after an edit that"
    " no longer asks for it, from the record as plain data: its comment and quotes are lost,"
    " so the output differs from a fresh run",
)
def test_restored_value_keeps_its_comments_and_quotes() -> None:
    text = (
        _LIST
        + _MS
        + _WORKLOAD
        + ("          - name: HF_HOME  # where the cache lives\n            value: '/somewhere'\n")
    )
    old, new = "hf://facebook/opt-125m", "pvc://weights"
    first, _, failed = run(text.replace("URI", old).encode())
    assert not failed
    fresh, _, _ = run(text.replace("URI", new).encode())
    again, _, _ = run(strip_results(first.decode()).replace(old, new).encode())
    assert "# where the cache lives\n            value: '/somewhere'" in fresh.decode()
    assert again.decode() == fresh.decode()
