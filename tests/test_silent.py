"""Nothing silent: the mistakes that once passed without a word (fixtures/silent-*) are
warnings with their field paths; with `krmfn.llm-d.ai/strict: "true"` on the
ModelService each of them is the same message as an error, the run fails, and no
workload is edited."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import yaml
from ruamel.yaml import YAML

from tests.golden import FIXTURES, run_case

WARNED = [
    "silent-unknown-fields",
    "silent-unused-settings",
    "silent-role-without-workload",
    "silent-unloadable-model",
    "silent-stale-model-label",
]
STRICT = "krmfn.llm-d.ai/strict"


def strict_input(case: Path) -> bytes:
    """The case's input with every ModelService made strict by its annotation."""
    rt = YAML()
    document = rt.load((case / "input.yaml").read_text())
    for item in document["items"]:
        if item["kind"] == "ModelService":
            item["metadata"].setdefault("annotations", {})[STRICT] = "true"
    buffer = io.StringIO()
    rt.dump(document, buffer)
    return buffer.getvalue().encode()


def workloads(listing: bytes) -> list[object]:
    items = yaml.safe_load(listing)["items"]
    return [item for item in items if item["kind"] != "ModelService"]


@pytest.mark.parametrize("name", WARNED)
def test_each_silent_case_is_a_warning_with_its_field_path(name: str) -> None:
    transcript = (FIXTURES / name / "expected.txt").read_text().splitlines()
    assert transcript[-1] == "exit status: 0"
    warnings = transcript[:-1]
    assert warnings, name
    assert all(line.startswith("[warning] ") for line in warnings), warnings


@pytest.mark.parametrize("name", WARNED)
def test_strict_by_annotation_makes_each_warning_an_error(name: str) -> None:
    case = FIXTURES / name
    warned = (case / "expected.txt").read_text().splitlines()[:-1]
    data = strict_input(case)
    outcome = run_case(case, data)
    assert outcome.stderr.decode().splitlines() == [
        line.replace("[warning] ", "[error] ", 1) for line in warned
    ]
    assert outcome.status == 1
    # Nothing applied: every workload comes out as it went in.
    assert workloads(outcome.stdout) == workloads(data)


def test_the_suggestions_name_the_field_meant() -> None:
    transcript = (FIXTURES / "silent-unknown-fields" / "expected.txt").read_text()
    for typo, meant in [
        ("spec.modelArtifacts.authSecretname", "did you mean authSecretName?"),
        ("spec.decode.replica", "did you mean replicas?"),
        ("spec.decode.containers[0].mountModelVolumes", "did you mean mountModelVolume?"),
        ("spec.modelArtifacts.readonly", "readOnly is a field of the function config"),
    ]:
        (line,) = [line for line in transcript.splitlines() if f" {typo}: " in line]
        assert meant in line, line
    # The llm-d CRD's own fields krmfn does not read are not said.
    assert "baseConfigMapRef" not in transcript
    assert "parallelism" not in transcript


def test_a_strict_annotation_that_is_not_a_string_is_an_error() -> None:
    case = FIXTURES / "silent-role-without-workload"
    data = re.sub(rb"strict: ['\"]true['\"]", b"strict: yes", strict_input(case))
    assert b"strict: yes" in data
    outcome = run_case(case, data)
    assert outcome.stderr.decode().splitlines() == [
        "[error] llm-d.ai/v1alpha1/ModelService/qwen"
        ' metadata.annotations.[krmfn.llm-d.ai/strict]: must be "true" or "false"'
        " (a string: annotations are strings, quote it), not the boolean True"
    ]
    assert outcome.status == 1


def items_of(listing: bytes) -> bytes:
    """The text of a ResourceList's items: after `items:`, before `results:`."""
    return listing.split(b"\nitems:\n", 1)[1].split(b"\nresults:\n", 1)[0]


def test_an_orphaned_record_renders_the_bytes_of_the_originals() -> None:
    """silent-orphaned-record was rendered when the target selected tier=blue;
    silent-orphaned-record-originals is the list as written, with the target that now
    selects tier=green. Both give the same items, byte for byte: decode-blue as written,
    decode-green with the model."""
    again = (FIXTURES / "silent-orphaned-record" / "expected.yaml").read_bytes()
    fresh = (FIXTURES / "silent-orphaned-record-originals" / "expected.yaml").read_bytes()
    assert items_of(again) == items_of(fresh)
    rendered = (FIXTURES / "silent-orphaned-record" / "input.yaml").read_bytes()
    assert items_of(rendered) != items_of(fresh)
    assert (FIXTURES / "silent-orphaned-record" / "expected.txt").read_text() == "exit status: 0\n"
    assert (
        b"- message: 'ModelService qwen no longer targets it: took back what it applied'\n"
        b"  severity: info\n  resourceRef:\n    apiVersion: apps/v1\n    kind: Deployment\n"
        b"    name: decode-blue\n"
    ) in again
