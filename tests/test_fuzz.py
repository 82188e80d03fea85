"""The fuzzer: the KRM contract (tests/fuzz/contract.py) over the fixtures mutated, generated
lists, and generated lists mutated (tests/fuzz/mutations.py), run in-process.

In CI every test here is deterministic (hypothesis derandomized, no example database) and
the file takes about two and a half minutes on two cores:

    python -m pytest tests/test_fuzz.py

A longer campaign on demand, with a fresh random seed (printed; `-s` shows it as it goes):
it keeps going past a violation, saves each new kind of violation (its input, and a
smaller one) under $KRMFN_FUZZ_FAILURES (default: <tmp>/krmfn-fuzz) and fails at the end
listing them:

    KRMFN_FUZZ_SECONDS=1800 python -m pytest tests/test_fuzz.py -k campaign -s

`KRMFN_FUZZ_SEED=N` replays a campaign's seed (and runs the CI tests below on that seed
instead of the fixed one); `--hypothesis-seed=N` does the same for the CI tests. A saved
input: `python -m tests.fuzz.contract FILE [--stream] [--config FILE] [--minimize CODE]`.

A finding becomes a regression test below (its reproducer, through the contract) and a
fixture of its own under fixtures/ once krmfn is fixed.
"""

from __future__ import annotations

import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from hashlib import sha256
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from tests.fuzz.contract import (
    FuzzInput,
    Violation,
    cli_violations,
    decode,
    listing,
    minimize,
    rerun_input,
    run_function,
    violations,
)
from tests.fuzz.mutations import (
    FIXTURES,
    Writer,
    fixture_inputs,
    generated_inputs,
    generated_layout,
    loaded,
    mutated,
    render,
)
from tests.golden import ROOT


def _seed() -> int | None:
    if os.environ.get("KRMFN_FUZZ_SEED"):
        return int(os.environ["KRMFN_FUZZ_SEED"])
    # pytest --hypothesis-seed=N (the hypothesis plugin sets it before collection)
    import hypothesis.core

    forced = getattr(hypothesis.core, "global_force_seed", None)
    return int(forced) if forced is not None else None


SEED = _seed()
SECONDS = float(os.environ.get("KRMFN_FUZZ_SECONDS") or 0)
FAILURES = Path(os.environ.get("KRMFN_FUZZ_FAILURES") or Path(tempfile.gettempdir()) / "krmfn-fuzz")
# Examples per CI test, for about 2.5 minutes in all on two cores.
BUDGET = {"fixtures": 1200, "generated": 400, "generated+mutated": 500, "cli": 12}

SUPPRESSED = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
    HealthCheck.large_base_example,
]


def ci(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Derandomized (CI runs exactly what a developer ran) unless a seed is given."""
    chosen = settings(
        max_examples=examples,
        deadline=None,
        derandomize=SEED is None,
        database=None,
        suppress_health_check=SUPPRESSED,
        print_blob=False,
    )

    def decorate(test: Callable[..., None]) -> Callable[..., None]:
        test = chosen(test)
        return hypothesis_seed(SEED)(test) if SEED is not None else test

    return decorate


def save(inp: FuzzInput, tag: str, digest: bool = True) -> Path:
    """The input under FAILURES: named by its digest, or by `tag` alone (a test's failing
    example while hypothesis shrinks it: the last one written is the smallest)."""
    FAILURES.mkdir(parents=True, exist_ok=True)
    name = f"{tag}-{sha256(inp.data + (inp.config or '').encode()).hexdigest()[:10]}"
    path = FAILURES / f"{name if digest else tag}.yaml"
    path.write_bytes(inp.data)
    if inp.config is not None:
        path.with_suffix(".config.yaml").write_text(inp.config)
    return path


def report(inp: FuzzInput, found: list[Violation], path: Path) -> str:
    config = f" --config {path.with_suffix('.config.yaml')}" if inp.config is not None else ""
    lines = [
        f"{len(found)} contract violation(s) on {inp.origin or 'an input'}",
        f"  input saved: {path}",
        f"  reproduce: python -m tests.fuzz.contract {path}"
        + (" --stream" if inp.stream else "")
        + config,
        *(f"  - {str(v)[:2000]}" for v in found),
    ]
    return "\n".join(lines)


def check(inp: FuzzInput, test: str) -> None:
    found = violations(inp)
    if found:
        raise AssertionError(report(inp, found, save(inp, test, digest=False)))


# The CI budget ---------------------------------------------------------------------------


@pytest.mark.parametrize("inp", FIXTURES, ids=[f.origin.removeprefix("fixture:") for f in FIXTURES])
def test_every_fixture_holds_the_contract(inp: FuzzInput) -> None:
    check(inp, "fixture-" + inp.origin.removeprefix("fixture:"))


@ci(BUDGET["fixtures"])
@given(mutated(fixture_inputs()))
def test_mutated_fixtures(inp: FuzzInput) -> None:
    check(inp, "mutated-fixtures")


@ci(BUDGET["generated"])
@given(generated_inputs())
def test_generated_lists(inp: FuzzInput) -> None:
    check(inp, "generated-lists")


@ci(BUDGET["generated+mutated"])
@given(mutated(generated_inputs()))
def test_mutated_generated_lists(inp: FuzzInput) -> None:
    check(inp, "mutated-generated-lists")


@ci(BUDGET["cli"])
@given(st.one_of(mutated(fixture_inputs()), generated_inputs()))
def test_the_cli_says_what_the_in_process_run_says(inp: FuzzInput) -> None:
    """`python -m krmfn` in a child process: same bytes, same status, same stderr lines."""
    found = cli_violations(inp)
    if found:
        raise AssertionError(report(inp, found, save(inp, "cli", digest=False)))


# The fuzzer's own checks: what it generates is what it means to generate ------------------


@ci(100)
@given(st.randoms(use_true_random=False))
def test_generated_items_read_back_as_their_data(rng: random.Random) -> None:
    layout = generated_layout(rng)
    for piece in layout.items:
        read = yaml.load(piece.text, Loader=yaml.CSafeLoader)
        assert read == loaded(piece.data), piece.text
    inp = render(layout, "stream" if layout.stream else "block", rng)
    text = decode(inp.data)
    assert text is not None
    assert listing(text, inp.stream) is not None, text


def test_anchors_and_block_scalars_are_written() -> None:
    shared = {"app": "x"}
    obj = {"a": shared, "b": shared, "c": "one\ntwo\n", "d": "keep\n\n", "e": "0644"}
    writer = Writer(random.Random(3), obj)
    writer.flow_nested = 0.0
    text = writer.block(obj)
    assert "&" in text and "*" in text
    assert re.search(r"[|>]\d?\+", text), text
    assert yaml.load(text, Loader=yaml.CSafeLoader) == obj


def test_the_checker_finds_a_dropped_item() -> None:
    """Rule 2 is not vacuous: an output without an input's item is a violation."""
    from tests.fuzz import contract

    text = "kind: ResourceList\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
    before = contract.listing(text, stream=False)
    after = contract.listing("kind: ResourceList\nitems: []\n", stream=False)
    assert before is not None
    found = contract._items_kept(before, after, stream=False)
    assert [v.code for v in found] == ["item-dropped"]
    assert [v.code for v in contract._untouched_identical(before, "items: []", False)] == [
        "untouched-changed:ConfigMap"
    ]


# The fuzzer's findings, fixed in krmfn: their reproducers, through the contract ----------

_MS = """\
- apiVersion: llm-d.ai/v1alpha1
  kind: ModelService
  metadata: {name: opt}
  spec:
    routing: {modelName: facebook/opt-125m}
    modelArtifacts: {uri: "hf://facebook/opt-125m", authSecretName: hf-token}
    decode:
      containers:
      - name: vllm
        mountModelVolume: true
"""
_DEPLOYMENT = """\
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: opt-decode}
  spec:
    selector: {matchLabels: {app: o}}
    template:
      metadata: {labels: {app: o}}
      spec: {containers: [{name: vllm, image: vllm}]}
"""
_LIST = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"
_LOCAL_MS = (
    "{apiVersion: llm-d.ai/v1alpha1, kind: ModelService, metadata: {name: m, annotations:"
    ' {config.kubernetes.io/local-config: "true"}}, spec: {routing: {modelName: a/b},'
    ' modelArtifacts: {uri: "hf://a/b"}}}'
)


def test_finding_01_stream_with_cr_line_breaks() -> None:
    # The dropped local-config document took its `---` along: `}{` glued the others.
    data = (
        "{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\r---\r"
        + _LOCAL_MS
        + "\r---\r{apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\r"
    )
    assert violations(FuzzInput(data.encode(), stream=True)) == []


def test_finding_02_collection_key_in_an_item() -> None:
    # The reader never returned. In a child process with a CPU limit: a hang fails fast.
    proc = subprocess.run(
        [sys.executable, "-m", "krmfn"],
        input=(_LIST + "- {}: x\n").encode(),
        capture_output=True,
        cwd=ROOT,
        check=False,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CPU, (5, 5)),
    )
    assert proc.returncode in (0, 1)
    assert violations(FuzzInput((_LIST + "- {}: x\n").encode())) == []


def test_finding_03_mixed_line_ends() -> None:
    # The CRs of an item nobody edited were dropped.
    windows = "- apiVersion: v1\r\n  kind: ConfigMap\r\n  metadata: {name: w}\r\n  data: {a: b}\r\n"
    data = (_LIST + windows + _MS + _DEPLOYMENT).encode()
    assert violations(FuzzInput(data)) == []


def test_finding_04_env_from_added_to_a_workload() -> None:
    # An internal error: unhashable type: 'dict'.
    ms = _MS.replace(
        "        mountModelVolume: true\n", "        envFrom: [{configMapRef: {name: v}}]\n"
    )
    assert violations(FuzzInput((_LIST + ms + _DEPLOYMENT).encode())) == []


_GENERATED_ALIAS = """\
apiVersion: &v config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: *v
  kind: Job
  metadata:
    name: opt-prefetch-0a1b2c3d
    annotations: {krmfn.llm-d.ai/generated-by: opt}
"""


def test_finding_05_generated_item_with_an_outside_alias() -> None:
    # An internal error, and the ModelService was not applied.
    data = (_GENERATED_ALIAS + _MS + _DEPLOYMENT).encode()
    assert violations(FuzzInput(data)) == []


def test_finding_06_undefined_alias_in_an_item_nobody_edits() -> None:
    # The list was no YAML, yet the others were edited and the run passed.
    broken = (
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: broken}\n  data: {a: *nowhere}\n"
    )
    data = (_LIST + broken + _MS + _DEPLOYMENT).encode()
    assert violations(FuzzInput(data)) == []


def test_finding_07_tagged_key_in_a_workload() -> None:
    # `!!str metadata:` kept apart from `metadata`: the edit wrote a second `metadata`.
    tagged = _DEPLOYMENT.replace(
        "  metadata: {name: opt-decode}", "  !!str metadata: {name: opt-decode}"
    )
    assert tagged != _DEPLOYMENT
    assert violations(FuzzInput((_LIST + _MS + tagged).encode())) == []


def test_finding_08_a_root_key_written_twice() -> None:
    # Results were appended to the second `results` and read back from it: the list grew
    # on every run.
    results = "results:\n- message: from an earlier function\n  severity: info\n"
    data = (_LIST + _MS + _DEPLOYMENT + results + results).encode()
    assert violations(FuzzInput(data)) == []


def test_finding_09_anchor_used_elsewhere_in_a_flow_list() -> None:
    # The fast writer skipped its anchor check inside flow collections: the edited
    # workload lost `&sel`, and the other item's `*sel` was left undefined.
    data = (
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: [\n"
        + _LOCAL_MS.replace(
            "modelArtifacts:",
            "decode: {containers: [{name: vllm, mountModelVolume: true}]}, modelArtifacts:",
        )
        + ",\n{apiVersion: apps/v1, kind: Deployment, metadata: {name: m-decode}, spec:"
        " {selector: &sel {matchLabels: {app: o}}, template: {metadata: {labels: {app: o}},"
        " spec: {containers: [{name: vllm, image: vllm}]}}}},\n"
        "{apiVersion: apps/v1, kind: Deployment, metadata: {name: other}, spec:"
        " {selector: *sel, template: {metadata: {labels: {app: o}},"
        " spec: {containers: [{name: c, image: c}]}}}}\n]\n"
    )
    assert violations(FuzzInput(data.encode())) == []


def test_finding_10_a_dropped_item_whose_dash_is_on_a_line_of_its_own() -> None:
    # A stale generated item written `- # comment` / `  metadata: ...` left its dash
    # line behind: an empty item in the output.
    stale = (
        "- # left by an earlier run\n  apiVersion: batch/v1\n  kind: Job\n"
        "  metadata:\n    name: opt-prefetch-0a1b2c3d\n"
        "    annotations: {krmfn.llm-d.ai/generated-by: opt}\n"
    )
    data = (_LIST + stale + _MS + _DEPLOYMENT).encode()
    assert violations(FuzzInput(data)) == []


def test_finding_11_metadata_created_for_the_labels_alone() -> None:
    # A workload without metadata: the first run made it (for the labels and the
    # record), the second run took back the labels but kept an empty metadata, so the
    # record said ^1 where the first said ^2.
    workload = _DEPLOYMENT.replace("  metadata: {name: opt-decode}\n", "")
    workload = workload.replace(
        "{labels: {app: o}}", "{labels: {llm-d.ai/model: a, llm-d.ai/role: decode}}"
    )
    data = (_LIST + _MS.replace("facebook/opt-125m", "x/a") + workload).encode()
    assert violations(FuzzInput(data)) == []


def test_finding_12_a_scalar_anchor_another_item_uses() -> None:
    # Taking a record back removed the mount whose name carried `&n`: the other item's
    # `*n` was left undefined. Now the edit is refused, the anchor kept.
    first = violations(FuzzInput((_LIST + _MS + _DEPLOYMENT).encode()))
    assert first == []
    rendered = subprocess.run(
        [sys.executable, "-m", "krmfn"],
        input=(_LIST + _MS + _DEPLOYMENT).encode(),
        capture_output=True,
        cwd=ROOT,
        check=False,
    ).stdout.decode()
    items = rendered.split("\nresults:\n")[0]
    assert items.count("{name: model-storage, ") == 2
    anchored = items.replace("{name: model-storage, ", "{name: &n model-storage, ", 1)
    other = "- {apiVersion: v1, kind: ConfigMap, metadata: {name: *n}}\n"
    # The ModelService no longer mounts the model: the mount is to be taken back.
    data = anchored.replace("mountModelVolume: true", "mountModelVolume: false")
    assert data != anchored
    assert violations(FuzzInput((data + "\n" + other).encode())) == []


def test_finding_13_new_items_after_the_comments_of_the_last_item() -> None:
    # Generated items went between the last item and its own trailing comment.
    prefetch = _MS.replace(
        'modelArtifacts: {uri: "hf://facebook/opt-125m", authSecretName: hf-token}',
        'modelArtifacts: {uri: "pvc+hf://c/hub/facebook/opt-125m", prefetch: true}',
    )
    assert prefetch != _MS
    last = "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: last}\n  # its own comment\n"
    data = (_LIST + prefetch + _DEPLOYMENT + last).encode()
    assert violations(FuzzInput(data)) == []


def test_finding_14_a_rendered_env_value_after_a_replaced_token() -> None:
    # The rendered value was recorded as env[1]; taking back the literal HF_TOKEN (which
    # can only be removed) moved it to env[0], and the rerun's record differed.
    workload = _DEPLOYMENT.replace(
        "{containers: [{name: vllm, image: vllm}]}",
        "{containers: [{name: vllm, image: vllm, env: [{name: HF_TOKEN, value: hf_x},"
        " {name: AFTER, value: '{{ .ModelName }}'}]}]}",
    )
    assert workload != _DEPLOYMENT
    assert violations(FuzzInput((_LIST + _MS + workload).encode())) == []


def test_finding_15_two_byte_order_marks() -> None:
    # libyaml skips the first BOM of its input without counting it: with one of two
    # left, every position was one off and the results were spliced into a word.
    data = ("\ufeff\ufeff" + _LIST + _MS + _DEPLOYMENT + "results:\n- message: earlier\n").encode()
    assert violations(FuzzInput(data)) == []


def test_finding_16_a_new_duplicate_container_beside_an_old_one() -> None:
    # A pod template already holding a name twice turned the check off for the whole
    # workload: the ModelService's container was added under a name another pod
    # template's init container has.
    ms = _MS.replace(
        "      - name: vllm\n        mountModelVolume: true\n",
        "      - {name: proxy, image: busybox}\n",
    )
    lws = """\
- apiVersion: leaderworkerset.x-k8s.io/v1
  kind: LeaderWorkerSet
  metadata: {name: opt-decode}
  spec:
    leaderWorkerTemplate:
      leaderTemplate:
        spec:
          initContainers: [{name: proxy, image: p, restartPolicy: Always}]
          containers: [{name: vllm, image: v}]
      workerTemplate:
        spec:
          initContainers: [{name: x, image: p}]
          containers: [{name: x, image: v}]
"""
    assert ms != _MS
    assert violations(FuzzInput((_LIST + ms + lws).encode())) == []


def test_finding_17_a_result_naming_a_keep_chomped_name() -> None:
    # A result whose resource name ends in blank lines is written `|+`, after which PyYAML
    # ends its document with `...`: spliced before the input's own `...`, two came out,
    # one more on each run; in a list of results, an indented `...` broke the YAML.
    ms = '- {apiVersion: llm-d.ai/v1alpha1, kind: ModelService, metadata: {name: "keep\\n\\n"},'
    ms += (
        ' spec: {routing: {modelName: opt}, modelArtifacts: {uri: "oci://r.example/opt:v1\\n"}}}\n'
    )
    earlier = "results:\n- message: from an earlier function\n  severity: info\n"
    for tail in ("", "...\n", earlier, earlier + "...\n"):
        data = (_LIST + ms + tail).encode()
        first = run_function(FuzzInput(data))
        assert first.failed
        assert first.output.count(b"...") == tail.count("..."), first.output.decode()
        assert first.output.endswith(
            b"    name: |+\n      keep\n\n  field:\n    path: spec.modelArtifacts.uri\n"
            + tail.removeprefix(earlier).encode()
        ), first.output.decode()
        assert violations(FuzzInput(data)) == []


@pytest.mark.parametrize("value", ["!!int ''", "!!float ''", "!!bool ''", "!!timestamp x"])
def test_finding_18_an_empty_value_under_a_type_tag(value: str) -> None:
    # PyYAML's constructors raise IndexError, KeyError or AttributeError for these, not
    # the ValueError of `!!int abc`: an internal error, and the other items' edits lost.
    ms = _MS.replace("authSecretName: hf-token", f"authSecretName: {value}")
    assert ms != _MS
    run = run_function(FuzzInput((_LIST + ms + _DEPLOYMENT).encode()))
    assert (run.failed, run.crash) == (True, None)
    assert run.errors == (
        "cannot be read: a value does not fit its tag: it is not a value of that type",
    )
    assert violations(FuzzInput((_LIST + ms + _DEPLOYMENT).encode())) == []


def test_finding_19_a_nameless_workload_is_not_suggested_as_a_target() -> None:
    # The decode-labelled Deployment has no name: the warning offered `name: ` to copy,
    # and `<your decode workload>` once the orphaned record's labels were taken back.
    data = _LIST + (
        "- apiVersion: llm-d.ai/v1alpha1\n  kind: ModelService\n  metadata: {name: qwen}\n"
        "  spec:\n    routing: {modelName: Qwen/Qwen3-8B}\n"
        "    modelArtifacts: {uri: hf://Qwen/Qwen3-8B}\n    decode: {containers: []}\n"
        "- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n"
        "    labels: {llm-d.ai/role: decode}\n"
    )
    run = run_function(FuzzInput(data.encode()))
    assert len(run.stderr) == 1
    assert run.stderr[0].endswith(
        "for example spec.decode.target: {kind: Deployment, name: <your decode workload>}"
    ), run.stderr
    assert violations(FuzzInput(data.encode())) == []


def test_finding_20_new_results_after_a_lone_cr() -> None:
    # In a file of CRLF, the earlier result's line ended in a lone CR (read as LF): the
    # new results went before it, and the CR moved to the end of the output.
    ms = _MS.replace('uri: "hf://facebook/opt-125m"', 'uri: ""')
    assert ms != _MS
    earlier = "results:\n- message: from an earlier function\n"
    data = (_LIST + ms + earlier).replace("\n", "\r\n")[:-2] + "\r"
    run = run_function(FuzzInput(data.encode()))
    assert run.failed
    assert run.output.startswith(data.encode())
    assert run.output[len(data) :].startswith(b"- message: 'unsupported URI")
    assert violations(FuzzInput(data.encode())) == []


def test_finding_21_a_failed_stream_keeps_its_local_config_documents() -> None:
    # Two ModelServices of one name, one of them local-config: an error, and the
    # local-config one was dropped, so the run on that output applied the other one.
    ms = (
        "apiVersion: llm-d.ai/v1alpha1\nkind: ModelService\nmetadata: {name: opt}\n"
        "spec: {routing: {modelName: a/b}, modelArtifacts: {uri: hf://a/b},"
        " decode: {containers: [{name: vllm, mountModelVolume: true}]}}\n"
    )
    local = ms.replace("{name: opt}", LOCAL_NAME)
    deployment = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: opt-decode}\n"
        "spec: {selector: {matchLabels: {app: o}}, template: {metadata: {labels: {app: o}},"
        " spec: {containers: [{name: vllm, image: v}]}}}\n"
    )
    data = "---\n".join([deployment, ms, local]).encode()
    run = run_function(FuzzInput(data, stream=True))
    assert run.failed
    assert run.output == data
    assert violations(FuzzInput(data, stream=True)) == []


LOCAL_NAME = '{name: opt, annotations: {config.kubernetes.io/local-config: "true"}}'


def test_finding_22_an_empty_function_config_at_the_end() -> None:
    data = b"kind: ResourceList\nfunctionConfig:"
    run = run_function(FuzzInput(data))
    assert (run.output, run.failed, run.crash) == (data, False, None)
    assert violations(FuzzInput(data)) == []


def test_finding_23_a_binary_tagged_key_in_a_workload() -> None:
    # Read as bytes, the key was written back as a second `name` beside the identity.
    tagged = _DEPLOYMENT.replace(
        "metadata: {name: opt-decode}", 'metadata: {!!binary "name": opt-decode}'
    )
    data = (_LIST + _MS + tagged).encode()
    run = run_function(FuzzInput(data))
    assert run.failed
    assert run.errors == (
        "ModelService opt: Deployment opt-decode cannot be edited: the key 'name' has an"
        " explicit tag; write it without the tag",
    )
    assert violations(FuzzInput(data)) == []


def test_finding_24_an_orphan_keeps_a_volume_a_mount_still_names() -> None:
    # The container was renamed since the render: the record's mount is not found and
    # stays, so its volume stays too (the API server rejects a mount of no volume).
    first = run_function(FuzzInput((_LIST + _MS + _DEPLOYMENT).encode()))
    rendered = first.output.decode().split("results:")[0]
    assert "name: vllm, image: vllm, volumeMounts" in rendered
    renamed = rendered.replace(
        "name: vllm, image: vllm, volumeMounts", "name: other, image: vllm, volumeMounts"
    )
    # the ModelService now targets another workload
    moved = renamed.replace(
        "    decode:\n", "    decode:\n      target: {kind: Deployment, name: elsewhere}\n", 1
    )
    assert moved != renamed != rendered
    run = run_function(FuzzInput(moved.encode()))
    assert "volumes: [{name: model-storage, emptyDir: {}}]" in run.output.decode()
    assert violations(FuzzInput(moved.encode())) == []


def test_finding_25_labels_a_record_names_but_no_longer_holds_are_the_users() -> None:
    # The record said krmfn added the role label with two others that are gone: taking
    # it back left the label, so the next run offered the workload as a target to copy.
    data = _LIST + (
        "- apiVersion: llm-d.ai/v1alpha1\n  kind: ModelService\n  metadata: {name: qwen}\n"
        "  spec:\n    routing: {modelName: Qwen/Qwen3-8B}\n"
        "    modelArtifacts: {uri: hf://Qwen/Qwen3-8B}\n"
        '    decode: {target: {kind: Deployment, labelSelector: "true"}}\n'
        "- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: decode-blue\n"
        "    labels: {llm-d.ai/role: decode}\n    annotations:\n"
        "      krmfn.llm-d.ai/applied: |-\n        v2 qwen decode +annotations\n"
        "        merge metadata.labels llm-d.ai/inferenceServing,llm-d.ai/model,llm-d.ai/role"
        " b89108\n"
    )
    run = run_function(FuzzInput(data.encode()))
    assert run.stderr[0].endswith("spec.decode.target: {kind: Deployment, name: decode-blue}")
    assert violations(FuzzInput(data.encode())) == []


def test_finding_26_new_results_in_a_file_mixing_lf_and_crlf() -> None:
    ms = _MS.replace('uri: "hf://facebook/opt-125m"', 'uri: ""')
    earlier = "results:\n- message: from an earlier function\n"
    data = _LIST + (ms + earlier).replace("\n", "\r\n")  # the header's lines end in LF
    run = run_function(FuzzInput(data.encode()))
    assert run.failed
    assert run.output.startswith(data.encode())
    assert violations(FuzzInput(data.encode())) == []


# The long campaign ---------------------------------------------------------------------------

STRATEGIES = {
    "fixtures": mutated(fixture_inputs()),
    "generated": generated_inputs(),
    "generated+mutated": mutated(generated_inputs()),
}


class _Found(Exception):
    def __init__(self, inp: FuzzInput, found: list[Violation]) -> None:
        super().__init__(", ".join(v.code for v in found))
        self.inp, self.found = inp, found


@pytest.mark.skipif(not SECONDS, reason="a long run: set KRMFN_FUZZ_SECONDS (and -s)")
def test_campaign() -> None:
    start = SEED if SEED is not None else random.SystemRandom().randrange(2**32)
    print(f"\nkrmfn fuzz campaign: KRMFN_FUZZ_SEED={start}, {SECONDS:.0f} s, saving to {FAILURES}")
    deadline = time.monotonic() + SECONDS
    seen: dict[str, str] = {}  # violation code: the report of its first input
    counts = {name: 0 for name in STRATEGIES}
    round_ = 0
    while time.monotonic() < deadline:
        name = list(STRATEGIES)[round_ % len(STRATEGIES)]
        round_seed = start + round_

        @settings(
            max_examples=200,
            deadline=None,
            database=None,
            suppress_health_check=SUPPRESSED,
            phases=[Phase.generate],  # no shrinking: a violation is saved and minimized here
            print_blob=False,
        )
        @hypothesis_seed(round_seed)
        @given(STRATEGIES[name])
        def one(inp: FuzzInput) -> None:
            # A violation is kept, not raised: hypothesis would replay a failing example,
            # and one whose drawing differs on the replay (a RecursionError at another
            # stack depth, say) would be lost as a FlakyStrategyDefinition.
            if time.monotonic() > deadline or found:  # noqa: B023 (one round at a time)
                return
            counts[name] += 1  # noqa: B023
            new = [v for v in violations(inp) if v.code not in seen]
            if new:
                found.append(_Found(inp, new))  # noqa: B023

        found: list[_Found] = []
        try:
            one()
            if found:
                raise found[0]
        except _Found as exc:
            codes = sorted({v.code for v in exc.found})
            small = exc.inp
            if not any(c in ("hang", "slow") for c in codes):
                small = minimize(exc.inp, codes[0], seconds=60)
            save(exc.inp, re.sub(r"[^a-z0-9-]+", "-", codes[0].lower()))
            path = save(small, re.sub(r"[^a-z0-9-]+", "-", codes[0].lower()) + "-min")
            text = report(small, violations(small) or exc.found, path)
            print(f"round {round_} ({name}, seed {round_seed}): {', '.join(codes)}\n{text}")
            for code in codes:
                seen.setdefault(code, text)
        except Exception as exc:  # hypothesis' own (a flaky example): say so, go on
            print(f"round {round_} ({name}, seed {round_seed}): {type(exc).__name__}: {exc}")
        finally:
            round_ += 1
    print(f"krmfn fuzz campaign: {counts} examples in {round_} rounds, {len(seen)} new codes")
    assert not seen, "\n\n".join(seen.values())


def test_seeds_reproduce() -> None:
    """The same seed gives the same inputs (what a printed seed is for)."""
    drawn: list[list[bytes]] = [[], []]
    for run in drawn:

        @settings(max_examples=5, database=None, phases=[Phase.generate])
        @hypothesis_seed(12345)
        @given(mutated(generated_inputs()))
        def collect(inp: FuzzInput) -> None:
            run.append(replace(inp, origin="").data)  # noqa: B023

        collect()
    assert drawn[0] == drawn[1]


def test_finding_27_a_volume_added_for_the_users_own_mount_is_taken_back_and_made_again() -> None:
    # The input mounted model-storage without a volume; krmfn added the volume. The
    # take-back kept it (a mount still named it), so the rerun recorded no volume.
    mounted = _DEPLOYMENT.replace(
        "{name: vllm, image: vllm}",
        "{name: vllm, image: vllm, volumeMounts: [{name: model-storage, mountPath: /m}]}",
    )
    data = (_LIST + _MS + mounted).encode()
    first = run_function(FuzzInput(data))
    assert "add spec.template.spec.volumes[name=model-storage]" in first.output.decode()
    items = first.output.split(b"results:")[0]
    assert run_function(FuzzInput(first.output)).output.split(b"results:")[0] == items
    assert violations(FuzzInput(data)) == []


def test_finding_28_an_env_var_listed_twice_is_an_error() -> None:
    # krmfn replaced the first HF_TOKEN by the Secret reference; the next run took that
    # back by name, then set the second one, dropping an entry on every run.
    twice = _DEPLOYMENT.replace(
        "{name: vllm, image: vllm}",
        "{name: vllm, image: vllm, env: [{name: HF_TOKEN, value: a}, {name: HF_TOKEN, value: b}]}",
    )
    data = (_LIST + _MS + twice).encode()
    run = run_function(FuzzInput(data))
    assert run.errors == (
        "ModelService opt: Deployment opt-decode: spec.template.spec.containers[0].env holds"
        " 2 entries with name HF_TOKEN; krmfn cannot tell which one to set: keep one",
    )
    assert run.output.startswith(data)
    assert violations(FuzzInput(data)) == []


def test_finding_29_results_that_alias_the_items_come_back_unchanged() -> None:
    # The checker counted the one span twice (as an item and as a result); krmfn was right.
    data = (
        b"kind: ResourceList\nitems: &all\n- {kind: ConfigMap, metadata: {name: a}}\nresults: *all"
    )
    run = run_function(FuzzInput(data))
    assert (run.output, run.failed) == (data, True)
    assert run.errors == (
        "results cannot be read: it cannot be read on its own: found undefined alias",
    )
    assert violations(FuzzInput(data)) == []


def test_finding_30_new_results_go_before_a_comment_that_ends_the_file() -> None:
    # PyYAML's marks end the last result after the comment; krmfn's new results go before
    # it, which the checker took for a changed result.
    ms = _MS.replace('uri: "hf://facebook/opt-125m"', 'uri: ""')
    data = _LIST + ms + "results:\n- message: from an earlier function\n# the end"
    run = run_function(FuzzInput(data.encode()))
    assert run.output.decode() == data.replace(
        "# the end",
        "- message: 'unsupported URI ''''; supported schemes: hf://, pvc://, pvc+hf://,"
        " oci://, s3://, gs://, az://'\n  severity: error\n  resourceRef:\n"
        "    apiVersion: llm-d.ai/v1alpha1\n    kind: ModelService\n    name: opt\n"
        "  field:\n    path: spec.modelArtifacts.uri\n# the end",
    )
    assert violations(FuzzInput(data.encode())) == []


def test_finding_31_a_label_given_by_an_alias_is_read_as_its_anchor() -> None:
    # The reader's events skipped the aliased role label, so the first run found the
    # workload by its template's labels; the rerun read the expanded label and did not.
    data = _LIST + (
        "- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: d\n"
        "    annotations: {note: &role other}\n    labels: {llm-d.ai/role: *role}\n"
        "  spec:\n    template:\n      metadata:\n"
        "        labels: {llm-d.ai/model: Qwen3-32B, llm-d.ai/role: decode}\n"
        "- apiVersion: llm-d.ai/v1alpha1\n  kind: ModelService\n  metadata: {name: qwen}\n"
        "  spec:\n    routing: {modelName: Qwen/Qwen3-32B}\n"
        "    modelArtifacts: {uri: hf://Qwen/Qwen3-32B}\n    decode: {replicas: 1}\n"
    )
    run = run_function(FuzzInput(data.encode()))
    assert run.output.split(b"results:")[0] == data.encode()
    assert run.stderr[0].startswith(
        "[warning] llm-d.ai/v1alpha1/ModelService/qwen: no workload found for decode:"
    )
    assert violations(FuzzInput(data.encode())) == []


def test_finding_32_the_rerun_input_keeps_the_space_before_a_comment_after_a_flow_root() -> None:
    # Taking out the results the run added, the checker also took the spaces before the
    # input's own comment: `]# why` is no comment, so the rerun read something else.
    data = (
        b'{"kind": "ResourceList", "items": [\n'
        b' {"kind": "ConfigMap", "metadata": {"name": "a"}}\n'
        b" ]  # why: because\n}\n"
    )
    ms = b'{"apiVersion": "llm-d.ai/v1alpha1", "kind": "ModelService", "metadata": {"name": "m"}}'
    data = data.replace(b'{"kind": "ConfigMap"', ms + b',\n {"kind": "ConfigMap"')
    run = run_function(FuzzInput(data))
    assert b'\n ], "results": [{' in run.output
    assert run.output.endswith(b"}]  # why: because\n}\n")
    assert rerun_input(FuzzInput(data), run.output) == data
    assert violations(FuzzInput(data)) == []


def test_finding_33_a_copy_of_a_recorded_mount_keeps_its_volume() -> None:
    # An orphaned workload held krmfn's model-storage mount twice (the user's copy of it):
    # the take-back removed one mount and the volume, and the other named a volume that
    # no longer existed. A volume a mount still names now stays.
    record = (
        "v2 qwen decode\\nadd spec.template.spec.volumes[name=model-storage] 3f6667 ^1\\n"
        "add spec.template.spec.containers[name=vllm].volumeMounts[name=model-storage]"
        " 9e5f83 ^1"
    )
    mount = '{"name": "model-storage", "mountPath": "/model-cache"}'
    ms = (
        "- {apiVersion: llm-d.ai/v1alpha1, kind: ModelService, metadata: {name: qwen}, spec:"
        " {routing: {modelName: Qwen/Qwen3-8B}, modelArtifacts: {uri: hf://Qwen/Qwen3-8B},"
        " decode: {target: {kind: Deployment, name: other}, containers: [{name: vllm}]}}}\n"
    )
    data = (
        _LIST
        + ms
        + '- {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "decode",'
        f' "annotations": {{"krmfn.llm-d.ai/applied": "{record}"}}}}, "spec": {{"selector":'
        ' {"matchLabels": {"app": "d"}}, "template": {"metadata": {"labels": {"app": "d"}},'
        f' "spec": {{"containers": [{{"name": "vllm", "image": "vllm", "volumeMounts": [{mount},'
        f' {mount}]}}], "volumes": [{{"name": "model-storage", "emptyDir": {{}}}}]}}}}}}}}\n'
    )
    run = run_function(FuzzInput(data.encode()))
    out = yaml.safe_load(run.output)["items"][1]["spec"]["template"]["spec"]
    assert out["containers"][0]["volumeMounts"] == [
        {"name": "model-storage", "mountPath": "/model-cache"}
    ]
    assert out["volumes"] == [{"name": "model-storage", "emptyDir": {}}]
    assert violations(FuzzInput(data.encode())) == []
