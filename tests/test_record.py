"""The record annotation (docs/record.md): its text, its paths, and reading it back."""

from __future__ import annotations

import pytest
import yaml

from krmfn import record
from krmfn.journal import REDACTED, Kind, Op
from krmfn.krm.errors import FieldError
from krmfn.paths import Match, Path, format_path, parse_path
from tests.golden import FIXTURES, run_case

PATHS: list[tuple[Path, str]] = [
    (("spec", "replicas"), "spec.replicas"),
    (
        (
            "spec",
            "template",
            "spec",
            "containers",
            Match("name", "vllm"),
            "env",
            Match("name", "HF_HOME"),
        ),
        "spec.template.spec.containers[name=vllm].env[name=HF_HOME]",
    ),
    (("metadata", "labels", "llm-d.ai/role"), "metadata.labels.[llm-d.ai/role]"),
    (("spec", "roles", Match("name", "decode"), "spec"), "spec.roles[name=decode].spec"),
    (("spec", "containers", 0, "args", 2), "spec.containers[0].args[2]"),
    (
        ("envFrom", Match("", {"configMapRef": {"name": "c"}})),
        'envFrom[={"configMapRef":{"name":"c"}}]',
    ),
    (("resources", "limits", "nvidia.com/gpu"), "resources.limits.[nvidia.com/gpu]"),
    # Keys and names holding what the syntax uses, white space or quotes: JSON strings
    # with the white space escaped, so a path stays one word of a record line.
    (("resources", "limits", "[odd.key]"), 'resources.limits.["[odd.key]"]'),
    (("env", Match("name", "OPTS[0]")), 'env[name="OPTS[0]"]'),
    (("labels", "a b"), 'labels.["a\\u0020b"]'),
    (("env", Match("name", 'say "hi"')), 'env[name="say\\u0020\\"hi\\""]'),
    (("annotations", "=x"), 'annotations.["=x"]'),
    (
        ("envFrom", Match("", {"secretRef": {"name": "a b"}})),
        'envFrom[={"secretRef":{"name":"a\\u0020b"}}]',
    ),
]


@pytest.mark.parametrize(("path", "text"), PATHS, ids=[t for _, t in PATHS])
def test_paths_are_written_as_kyaml_does_and_read_back(path: Path, text: str) -> None:
    assert format_path(path) == text
    assert parse_path(text) == path


@pytest.mark.parametrize("text", ["spec..x", "spec[x]", "a[name=b", "a[=1"])
def test_malformed_paths_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_path(text)


OPS = [
    Op(
        Kind.ADD,
        ("spec", "template", "spec", "volumes", Match("name", "model-storage")),
        "8bfa1e19",
        created=2,
    ),
    Op(Kind.SET, ("spec", "replicas"), "d4735e3a", 1),
    Op(
        Kind.SET,
        ("spec", "containers", Match("name", "v"), "env", Match("name", "TOKEN")),
        "0a1b2c3d",
        REDACTED,
    ),
    Op(Kind.SET, ("spec", "x"), "0a1b2c3d", {"name": "HF_HOME", "value": "/my cache"}),
    Op(
        Kind.PREFIX,
        ("spec", "containers", Match("name", "v"), "args"),
        "054d8a5e",
        elements=2,
        created=1,
    ),
    Op(
        Kind.MERGE,
        ("metadata", "labels"),
        "5f1a2b",
        ("llm-d.ai/role", "llm-d.ai/model"),
        created=1,
    ),
]
TEXT = """v2 llm-d/opt decode,prefill +annotations
add spec.template.spec.volumes[name=model-storage] 8bfa1e19 ^2
set spec.replicas d4735e3a 1
set spec.containers[name=v].env[name=TOKEN] 0a1b2c3d *
set spec.x 0a1b2c3d {"name":"HF_HOME","value":"/my cache"}
prefix spec.containers[name=v].args 054d8a5e 2 ^1
merge metadata.labels llm-d.ai/role,llm-d.ai/model 5f1a2b ^1"""


def test_each_op_kind_has_one_line_that_reads_back() -> None:
    written = record.Record("llm-d/opt", ("decode", "prefill"), OPS, new_annotations=True)
    assert record.write(written) == TEXT
    assert record.read(TEXT) == written
    # as a YAML block the annotation ends with a line break; it reads the same
    assert record.read(TEXT + "\n") == written


@pytest.mark.parametrize(
    "text",
    [
        "v3 a/b decode",
        "v2 a/b decode +other",
        "v2 a/b decode\nremove spec.x 1234",
        "v2 a/b decode\nadd spec.x",
        "v2 a/b decode\nadd spec.x 1234 2",
        "v2 a/b decode\nset spec.x 1234 {not json",
        "v2 a/b decode\nmerge metadata.labels a",
        "v2 a/b decode\nmerge metadata.labels a 1234 2",
        '{"v":1,"ops":[{"op":"move","path":["a"],"hash":"1"}]}',
        '{"v":2}',
        "",
    ],
)
def test_an_unreadable_record_is_a_field_error(text: str) -> None:
    with pytest.raises(FieldError) as raised:
        record.read(text)
    assert (raised.value.path, raised.value.message) == (
        "metadata.annotations.[krmfn.llm-d.ai/applied]",
        "annotation krmfn.llm-d.ai/applied is not a record this version wrote;"
        " restore the workload from its source or delete the annotation",
    )


def test_version_1_ops_read_as_version_2_ops() -> None:
    v1 = (
        '{"v":1,"by":"ns/opt","role":"decode","ops":['
        '{"op":"set","path":["metadata","annotations"],"hash":"44136fa355b3"},'
        '{"op":"set","path":["spec","replicas"],"hash":"d4735e3a265e","prior":1},'
        '{"op":"set","path":["env",["name","TOKEN"]],"hash":"0a1b2c3d4e5f","redacted":true},'
        '{"op":"set","path":["envFrom",["=",{"secretRef":{"name":"s"}}]],"hash":"abcdefabcdef"},'
        '{"op":"prefix","path":["args"],"count":2,"hash":"054d8a5ea026"}]}'
    )
    assert record.read(v1) == record.Record(
        "ns/opt",
        ("decode",),
        [
            Op(Kind.ADD, ("metadata", "annotations"), "44136fa355b3"),
            Op(Kind.SET, ("spec", "replicas"), "d4735e3a265e", 1),
            Op(Kind.SET, ("env", Match("name", "TOKEN")), "0a1b2c3d4e5f", REDACTED),
            Op(Kind.ADD, ("envFrom", Match("", {"secretRef": {"name": "s"}})), "abcdefabcdef"),
            Op(Kind.PREFIX, ("args",), "054d8a5ea026", elements=2),
        ],
    )


def test_the_record_of_one_role_fits_in_900_characters() -> None:
    # The issue's yardstick: hf://facebook/opt-125m with authSecretName and size, an init
    # container and a container marked (and, since, the node disk its emptyDir takes).
    # Version 1 wrote 2,228 characters for it.
    output = yaml.safe_load(run_case(FIXTURES / "hf-basic").stdout)
    decode = next(i for i in output["items"] if i["metadata"]["name"] == "opt-decode")
    written = decode["metadata"]["annotations"][record.ANNOTATION]
    assert written.startswith("v2 serving/opt decode +annotations\n")
    assert len(written) <= 900, len(written)
