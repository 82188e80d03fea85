"""Section 5 of the behaviour spec: after a ModelService edit, running on the already
rewritten workloads gives what running on the original workloads gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.golden import FIXTURES, command, fixture_input, run_cli
from tests.test_golden import strip_results

EDITS = {
    "hf to pvc": ("uri: hf://facebook/opt-125m", "uri: pvc://opt-weights/models/opt"),
    "auth secret removed": ("      authSecretName: hf-secret\n", ""),
    "size changed": ("size: 5Gi", "size: 20Gi"),
    "args added": (
        "      containers:\n      - name: vllm\n        mountModelVolume: true\n",
        "      containers:\n      - name: vllm\n        args: [--max-model-len, '4096']\n"
        "        mountModelVolume: true\n",
    ),
    "init container unmarked": (
        "      - name: fetch\n        mountModelVolume: true\n",
        "      - name: fetch\n",
    ),
    "replicas changed": ("      replicas: 2\n", "      replicas: 3\n"),
    "scaling decoupled": ("    decode:\n", "    decoupleScaling: true\n    decode:\n"),
    "image set": (
        "      - name: vllm\n        mountModelVolume: true\n",
        "      - name: vllm\n        image: vllm/vllm-openai:v0.9.0\n        mountModelVolume: true\n",
    ),
}


def _run(data: bytes) -> str:
    case = FIXTURES / "hf-basic"
    outcome = run_cli(command(case), data)
    assert outcome.status == 0, outcome.stderr.decode()
    return outcome.stdout.decode()


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_edit_converges(edit: str) -> None:
    old, new = EDITS[edit]
    original = fixture_input(FIXTURES / "hf-basic").decode()
    assert original.count(old) == 1
    fresh = _run(original.replace(old, new).encode())
    rewritten = strip_results(_run(original.encode()))
    assert rewritten.count(old) == 1
    again = _run(rewritten.replace(old, new).encode())
    assert again == fresh


def test_edits_in_sequence_converge() -> None:
    original = fixture_input(FIXTURES / "hf-basic").decode()
    current, edited = original, original
    for old, new in EDITS.values():
        if edited.count(old) != 1:
            continue
        edited = edited.replace(old, new)
        current = strip_results(_run(current.replace(old, new).encode()))
    assert current == strip_results(_run(edited.encode()))


# What today's main wrote for hf-basic before records were version 2 (one line of JSON):
# a cluster or a repository holds such workloads, and an edit must still converge.
V1_OUTPUT = Path(__file__).parent / "record" / "v1-hf-basic.yaml"


@pytest.mark.parametrize("edit", [None, *EDITS], ids=["no edit", *EDITS])
def test_version_1_records_are_taken_back(edit: str | None) -> None:
    old, new = EDITS[edit] if edit else ("", "")
    original = fixture_input(FIXTURES / "hf-basic").decode()
    written = V1_OUTPUT.read_text()
    assert written.count('krmfn.llm-d.ai/applied: \'{"v":1,') == 2
    if edit:
        assert written.count(old) == 1
    fresh = _run(original.replace(old, new).encode())
    assert _run(written.replace(old, new).encode()) == fresh


PREFETCH = FIXTURES / "prefetch"
PREFETCH_EDITS = {
    "prefetch removed": (
        "      prefetch:\n        timeoutSeconds: 1800\n        claim:\n"
        "          size: 20Gi\n          storageClassName: nfs\n",
        "",
    ),
    "model changed": (
        "uri: pvc+hf://model-cache/hub/Qwen/Qwen3-0.6B",
        "uri: pvc+hf://model-cache/hub/Qwen/Qwen3-1.7B",
    ),
    "claim no longer generated": (
        "        claim:\n          size: 20Gi\n          storageClassName: nfs\n",
        "",
    ),
    "timeout changed": ("timeoutSeconds: 1800", "timeoutSeconds: 900"),
}


@pytest.mark.parametrize("edit", list(PREFETCH_EDITS), ids=list(PREFETCH_EDITS))
def test_generated_items_follow_an_edit(edit: str) -> None:
    """A generated Job and claim are replaced, or leave, as a fresh run would have them."""
    old, new = PREFETCH_EDITS[edit]
    original = fixture_input(PREFETCH).decode()
    assert original.count(old) == 1
    fresh = run_cli(command(PREFETCH), original.replace(old, new).encode())
    generated = strip_results(run_cli(command(PREFETCH), original.encode()).stdout.decode())
    assert generated.count("kind: Job\n") == 1
    again = run_cli(command(PREFETCH), generated.replace(old, new).encode())
    assert (again.status, again.stdout.decode()) == (fresh.status, fresh.stdout.decode())


SHELL = FIXTURES / "shell-script"
# The wide-ep workload keeps its own HF_HUB_CACHE while krmfn points it at the model
# volume: a source without a hub cache gives it back.
SHELL_EDITS = {
    "hf to pvc": ("uri: hf://deepseek-ai/DeepSeek-V4-Pro\n", "uri: pvc://dsv4/DeepSeek-V4-Pro\n"),
    "hf to s3": (
        "uri: hf://deepseek-ai/DeepSeek-V4-Pro\n",
        "uri: s3://models/DeepSeek-V4-Pro\n      region: us-east-1\n",
    ),
    "secret removed": ("      authSecretName: llm-d-hf-token\n", ""),
}


@pytest.mark.parametrize("edit", list(SHELL_EDITS), ids=list(SHELL_EDITS))
def test_a_workloads_own_hub_cache_comes_back(edit: str) -> None:
    old, new = SHELL_EDITS[edit]
    original = fixture_input(SHELL).decode()
    assert original.count(old) == 1
    fresh = run_cli(command(SHELL), original.replace(old, new).encode()).stdout.decode()
    rewritten = strip_results(run_cli(command(SHELL), original.encode()).stdout.decode())
    assert "value: /model-cache/hub" in rewritten
    again = run_cli(command(SHELL), rewritten.replace(old, new).encode()).stdout.decode()
    assert again == fresh
    if edit != "secret removed":
        assert "value: /var/cache/huggingface" in again
