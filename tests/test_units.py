"""Unit tests of the parts: URI parsing, sanitising, discovery, merging, the journal."""

from __future__ import annotations

import pytest

from krmfn.config import Config
from krmfn.journal import Journal, undo
from krmfn.kinds import DISCOVERY_FIELDS
from krmfn.krm.document import read_document
from krmfn.krm.errors import FieldError
from krmfn.krm.roundtrip import to_plain, to_ruamel
from krmfn.modelservice import Identity, ModelService, load
from krmfn.names import sanitize
from krmfn.paths import Match
from krmfn.sources import HuggingFace, Options, PersistentVolumeClaim, parse_uri
from krmfn.targets import discover


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("facebook/opt-125m", "facebook-opt-125m"),
        ("ibm-granite/granite-3.3-2b-instruct", "ibm-granite-granite-3-3-2b-instruct"),
        ("modelName", "modelname"),
        ("  Qwen/Qwen2.5-7B  ", "qwen-qwen2-5-7b"),
        ("a__b..c", "a-b-c"),
        ("x" * 70, "x" * 63),
    ],
)
def test_sanitize(raw: str, expected: str) -> None:
    assert sanitize(raw) == expected


def test_sanitize_cut_leaving_a_dash_is_an_error() -> None:
    with pytest.raises(FieldError) as exc:
        sanitize("a" * 62 + "/b", "spec.routing.modelName")
    assert exc.value.path == "spec.routing.modelName"
    assert exc.value.message == (
        f"{'a' * 62 + '/b'!r} sanitises to {'a' * 62 + '-'!r}, which is not a valid DNS-1123"
        " label (lower-case letters, digits and '-', starting and ending with a letter or"
        " digit, at most 63 characters)"
    )


def test_hf_uri() -> None:
    source = parse_uri("hf://facebook/opt-125m", Options(auth_secret_name="s", size="5Gi"))
    assert isinstance(source, HuggingFace)
    assert (source.hf_model_name, source.model_path, source.mounted_model_path) == (
        "facebook/opt-125m",
        "facebook/opt-125m",
        "/model-cache",
    )
    assert source.volume() == {"emptyDir": {"sizeLimit": "5Gi"}}
    assert source.mount() == {"name": "model-storage", "mountPath": "/model-cache"}
    assert source.env() == [
        {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "HF_TOKEN"}}},
        {"name": "HF_HOME", "value": "/model-cache"},
    ]


@pytest.mark.parametrize(
    ("uri", "path", "mounted"),
    [
        ("pvc://granite-pvc/path/to/granite", "path/to/granite", "/model-cache/path/to/granite"),
        (
            "pvc://granite-pvc/path//to/./granite/",
            "path/to/granite",
            "/model-cache/path/to/granite",
        ),
        ("pvc://granite-pvc", "", "/model-cache"),
        ("pvc://granite-pvc/", "", "/model-cache"),
    ],
)
def test_pvc_uri(uri: str, path: str, mounted: str) -> None:
    source = parse_uri(uri, Options(auth_secret_name="ignored", size="1Gi"))
    assert isinstance(source, PersistentVolumeClaim)
    assert (source.claim, source.model_path, source.mounted_model_path) == (
        "granite-pvc",
        path,
        mounted,
    )
    assert source.volume() == {
        "persistentVolumeClaim": {"claimName": "granite-pvc", "readOnly": True}
    }
    assert source.mount() == {
        "name": "model-storage",
        "mountPath": "/model-cache",
        "readOnly": True,
    }
    assert source.env() == []


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "HF://a/b",
            "unsupported URI 'HF://a/b'; supported schemes: hf://, pvc://, pvc+hf://, oci://, s3://, gs://, az://",
        ),
        (
            "gcs://b/x",
            "unsupported URI 'gcs://b/x'; supported schemes: hf://, pvc://, pvc+hf://, oci://, s3://, gs://, az://",
        ),
        (
            "facebook/opt",
            "unsupported URI 'facebook/opt'; supported schemes: hf://, pvc://, pvc+hf://, oci://, s3://, gs://, az://",
        ),
        (
            "hf://a",
            "'hf://a' must be hf://<repo-id>/<model-id>[@<revision>], with exactly two non-empty segments",
        ),
        (
            "hf://a/",
            "'hf://a/' must be hf://<repo-id>/<model-id>[@<revision>], with exactly two non-empty segments",
        ),
        (
            "hf://a/b..c",
            "'hf://a/b..c': 'b..c' is not a valid Hugging Face id (letters, digits, '.', '_', '-';"
            " no '--' or '..'; at most 96 characters)",
        ),
        (
            "hf://a/" + "m" * 97,
            f"'hf://a/{'m' * 97}': '{'m' * 97}' is not a valid Hugging Face id (letters, digits,"
            " '.', '_', '-'; no '--' or '..'; at most 96 characters)",
        ),
        ("pvc://c/a/../b", "'pvc://c/a/../b': the path must not contain a '..' segment"),
        (
            "pvc:///x",
            "'pvc:///x': claim '' is not a valid PersistentVolumeClaim name (a DNS-1123 subdomain:"
            " lower-case letters, digits, '-' and '.')",
        ),
    ],
)
def test_bad_uris(uri: str, message: str) -> None:
    with pytest.raises(FieldError) as exc:
        parse_uri(uri, Options())
    assert (exc.value.path, exc.value.message) == ("spec.modelArtifacts.uri", message)


@pytest.mark.parametrize("size", ["5Gi", "500M", "1e9", "1.5Ti", 1024, "100m"])
def test_sizes(size: str | int) -> None:
    assert parse_uri("hf://a/b", Options(size=size)).volume() == {"emptyDir": {"sizeLimit": size}}


@pytest.mark.parametrize(
    ("options", "path", "message"),
    [
        (
            Options(size="5 GB"),
            "spec.modelArtifacts.size",
            "size '5 GB' is not a Kubernetes quantity (for example 5Gi, 500M, 1e9)",
        ),
        (
            Options(pull_policy="Sometimes"),
            "spec.modelArtifacts.pullPolicy",
            "pull policy 'Sometimes' is not one of Always, IfNotPresent, Never",
        ),
    ],
)
def test_sources_name_the_field_they_reject(options: Options, path: str, message: str) -> None:
    uri = "oci://quay.io/a/b:1" if options.pull_policy else "hf://a/b"
    with pytest.raises(FieldError) as exc:
        parse_uri(uri, options)
    assert (exc.value.path, exc.value.message) == (path, message)


def test_model_service_validation_paths() -> None:
    problems = load(
        Identity("x", "ns"), {"spec": {"routing": {"modelName": 3}, "decode": []}}, Config()
    )
    assert isinstance(problems, list)
    assert [(p.path, p.message) for p in problems] == [
        ("spec.routing.modelName", "must be a string, not an integer"),
        ("spec.modelArtifacts", "is required"),
        ("spec.decode", "must be a mapping, not a list"),
    ]


def test_discovery_rules() -> None:
    text = """kind: ResourceList
items:
- {apiVersion: apps/v1, kind: Deployment, metadata: {name: a-decode, namespace: n}}
- {apiVersion: apps/v1, kind: Deployment, metadata: {name: owned, namespace: n,
   labels: {llm-d.ai/role: prefill},
   ownerReferences: [{apiVersion: llm-d.ai/v1alpha1, kind: ModelService, name: a}]}}
- {apiVersion: apps/v1, kind: Deployment, metadata: {name: by-label, namespace: n,
   labels: {llm-d.ai/role: decode, llm-d.ai/model: org-m}}}
- {apiVersion: apps/v1, kind: Deployment, metadata: {name: a-decode, namespace: other}}
- {apiVersion: apps/v2, kind: Deployment, metadata: {name: a-prefill, namespace: n}}
"""
    doc = read_document(text, "resourcelist", DISCOVERY_FIELDS)
    spec = {
        "routing": {"modelName": "org/m"},
        "modelArtifacts": {"uri": "hf://org/m"},
        "decode": {},
        "prefill": {},
    }
    ms = load(Identity("a", "n"), {"spec": spec}, Config())
    assert isinstance(ms, ModelService)
    found = discover(doc.items, [ms], ("Deployment",))
    assert [(t.item.name, t.roles, t.how) for t in found.targets["n/a"]] == [
        ("a-decode", ("decode",), "name"),
        ("owned", ("prefill",), "ownerReference"),
        ("by-label", ("decode",), "labels"),
    ]
    assert found.conflicts == {}


def test_journal_undo_restores_and_respects_user_changes() -> None:
    obj = to_ruamel({"env": [{"name": "A", "value": "1"}], "args": ["x"]})
    journal = Journal(obj)
    journal.set(("env", Match("name", "A")), {"name": "A", "value": "2"})
    journal.set(("env", Match("name", "B")), {"name": "B", "value": "3"})
    journal.prefix(("args",), ["--first"])
    journal.set(("image",), "img")
    assert to_plain(obj) == {
        "env": [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}],
        "args": ["--first", "x"],
        "image": "img",
    }
    obj["image"] = "changed-by-user"
    undo(obj, journal.ops)
    assert to_plain(obj) == {
        "env": [{"name": "A", "value": "1"}],
        "args": ["x"],
        "image": "changed-by-user",
    }


def test_inserted_yaml11_booleans_are_quoted() -> None:
    from krmfn.krm.roundtrip import needs_quotes

    assert [needs_quotes(v) for v in ("yes", "on", "12:30", "0777", "true", "8000", "abc")] == [
        True,
        True,
        True,
        True,
        True,
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("text", "value", "means"),
    [
        # Plain scalars resolve as ruamel (YAML 1.2) resolves them, not as YAML 1.1 would.
        (
            "a: 1\nb: true\nc: ~\nd: 1.5\ne: yes\nf: '1'\ng: 0o17\nh: |\n  x\n",
            {"a": 1, "b": True, "c": None, "d": 1.5, "e": "yes", "f": "1", "g": 15, "h": "x\n"},
            True,
        ),
        ("a: [x, {b: 2}]\n", {"a": ["x", {"b": 2}]}, True),
        ("a: yes\n", {"a": True}, False),
        ("a: '1'\n", {"a": 1}, False),
        ("a: 1\n", {"a": "1"}, False),
        ("a: [x]\n", {"a": ["x", "y"]}, False),
        ("a: {b: 1}\n", {"a": {"c": 1}}, False),
        ("{a: 1, a: 1}\n", {"a": 1, "b": 1}, False),
        ("a: !!str 8000\n", {"a": "8000"}, False),  # not shown: ruamel reads it too
        ("1: x\n", {"1": "x"}, False),  # a key that is not a string: not shown
    ],
)
def test_libyaml_reading_means_the_edited_data(text: str, value: object, means: bool) -> None:
    import yaml

    from krmfn.krm.roundtrip import _means

    assert _means(yaml.compose(text, Loader=yaml.CSafeLoader), value) is means


def test_the_cli_leaves_pydantic_plugins_off_unless_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gc
    import os

    from krmfn import cli

    seen = []
    try:
        for preset in (None, ""):
            if preset is None:
                monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS", raising=False)
            else:
                monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", preset)
            assert cli.main(["--version"]) == 0
            seen.append(os.environ["PYDANTIC_DISABLE_PLUGINS"])
    finally:
        gc.enable()  # main turns the collector off for its own short process
    assert seen == ["__all__", ""]
    assert capsys.readouterr().out == "krmfn 0.1.0\nkrmfn 0.1.0\n"


@pytest.mark.parametrize(
    ("command", "args", "found"),
    [
        (["vllm", "serve"], ["Qwen/Qwen3-8B", "--port", "8000"], ("Qwen/Qwen3-8B", "args", 0)),
        (None, ["--port", "8000", "--model", "/models/q"], ("/models/q", "args", 3)),
        (["python3", "-m", "vllm.entrypoints.openai.api_server", "--model=x/y"], None,
         ("x/y", "command", 3)),
        (["/bin/bash", "-c"], ["set -e\nexec vllm serve 'a/b' \\\n  --port 8000\n"],
         ("a/b", "args", 0)),
        (["/bin/sh", "-c", "vllm serve --port 8000"], None, None),
        (["vllm", "serve"], ["--port", "8000"], None),
        (None, ["Qwen/Qwen3-8B"], None),  # the image's entrypoint is not known
    ],
)  # fmt: skip
def test_model_argument_is_what_vllm_loads(
    command: list[str] | None, args: list[str] | None, found: tuple[str, str, int] | None
) -> None:
    from krmfn.commands import model_argument

    result = model_argument(command, args)
    assert (tuple(result) if result is not None else None) == found


@pytest.mark.parametrize(
    ("uri", "model", "problem"),
    [
        ("hf://Qwen/Qwen3-8B", "Qwen/Qwen3-8B", ""),
        ("hf://Qwen/Qwen3-8B", "/model-cache/", "the Hugging Face cache, not a model folder"),
        ("pvc+hf://c/hub/Qwen/Qwen3-8B", "/model-cache/hub", "the Hugging Face cache"),
        ("pvc+hf://c/hub/Qwen/Qwen3-8B", "Qwen/Qwen3-32B", "another model than the"),
        ("pvc://c/models/q", "/model-cache/models/q", ""),
        ("pvc://c/models/q", "Qwen/Qwen3-32B", ""),  # a claim's folder may be named so
    ],
)
def test_unloadable_says_what_a_model_argument_is_instead(
    uri: str, model: str, problem: str
) -> None:
    said = parse_uri(uri, Options()).unloadable(model)
    assert said.startswith(problem) and bool(said) == bool(problem), said
