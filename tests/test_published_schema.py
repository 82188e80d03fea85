"""The published schemas (schemas/, written by `python -m krmfn schema`): checked in as
the generator writes them, and saying what krmfn says. Every ModelService krmfn accepts
is valid against the JSON Schema and the CRD; the shapes it rejects are rejected by both
(the CRD where a structural schema can say so); the same for the config object. The
example files name their schema for editors."""

from __future__ import annotations

import copy
import inspect
import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import referencing
import yaml
from jsonschema.exceptions import best_match
from pydantic import BaseModel

import krmfn.modelservice
from krmfn.config import CONFIG_API_VERSION, CONFIG_KIND, Config, parse_config
from krmfn.kinds import MODELSERVICE_API_VERSION, MODELSERVICE_KIND
from krmfn.krm.errors import FieldError
from krmfn.modelservice import (
    Adapter,
    Identity,
    ModelArtifacts,
    ModelService,
    Prefetch,
    Target,
    load,
)
from krmfn.schema import (
    CONFIG_SCHEMA,
    INT_OR_STRING,
    MODELSERVICE_CRD,
    MODELSERVICE_SCHEMA,
    PRESERVE,
    PUBLISHED_FILES,
    SCHEMA_DIR,
    field_docstrings,
    modelservice_schema,
    published,
    structural,
)
from tests.golden import ROOT, cases, fixture_input, is_stream

EXAMPLE_DIRS = (ROOT / "examples", ROOT / "kustomization-example")
EDITOR_COMMENT = re.compile(r"# yaml-language-server: \$schema=(\S+)\n")

# --- reading the repository's YAML -------------------------------------------------


def documents(text: str | bytes) -> list[Any]:
    """The documents of a stream; one that cannot be built (the fixtures of unreadable
    input) is left out, as kubectl could not read it either."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return []
    out = []
    for node in nodes:
        loader = yaml.SafeLoader("")
        try:
            out.append(loader.construct_document(node))
        except (yaml.YAMLError, ValueError):
            continue
        finally:
            loader.dispose()
    return out


def objects(text: str | bytes) -> list[dict[str, Any]]:
    """The objects of a stream: a ResourceList's items and functionConfig, or the
    documents themselves."""
    out: list[dict[str, Any]] = []
    for doc in documents(text):
        if isinstance(doc, dict) and doc.get("kind") == "ResourceList":
            out += [o for o in [*(doc.get("items") or []), doc.get("functionConfig")] if o]
        elif isinstance(doc, dict):
            out.append(doc)
    return [o for o in out if isinstance(o, dict)]


def is_modelservice(obj: dict[str, Any]) -> bool:
    return (
        obj.get("apiVersion") == MODELSERVICE_API_VERSION and obj.get("kind") == MODELSERVICE_KIND
    )


def is_typed_config(obj: dict[str, Any]) -> bool:
    return obj.get("apiVersion") == CONFIG_API_VERSION and obj.get("kind") == CONFIG_KIND


def example_files() -> list[Path]:
    """The YAML files of the examples, without the expected outputs beside them."""
    return sorted(
        path
        for directory in EXAMPLE_DIRS
        for path in directory.rglob("*.yaml")
        if path.name != "expected.yaml"
        and not any(part.endswith(".expected") for part in path.relative_to(ROOT).parts)
    )


def fixture_objects(case: Path) -> list[dict[str, Any]]:
    """What the golden test feeds the function for a case: the ResourceList with its
    functionConfig, or the stream and its --config file."""
    if not is_stream(case):
        return objects(fixture_input(case))
    config = case / "config.yaml"
    found = objects((case / "input.yaml").read_bytes())
    return found + (objects(config.read_text()) if config.is_file() else [])


def krmfn_loads(obj: dict[str, Any]) -> ModelService | list[FieldError]:
    metadata = obj.get("metadata") or {}
    who = Identity(str(metadata.get("name") or ""), str(metadata.get("namespace") or ""))
    return load(who, obj, Config())


def labelled(items: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """pytest.mark.parametrize's arguments for (label, object) pairs."""
    return {"argvalues": [obj for _, obj in items], "ids": [label for label, _ in items]}


EXAMPLE_MODELSERVICES = [
    (f"{path.relative_to(ROOT)}:{obj['metadata']['name']}", obj)
    for path in example_files()
    for obj in objects(path.read_text())
    if is_modelservice(obj)
]
FIXTURE_MODELSERVICES = [
    (f"{case.name}[{index}]:{(obj.get('metadata') or {}).get('name')}", obj)
    for case in cases()
    for index, obj in enumerate(fixture_objects(case))
    if is_modelservice(obj)
]
ACCEPTED = [
    (lbl, obj) for lbl, obj in FIXTURE_MODELSERVICES if isinstance(krmfn_loads(obj), ModelService)
]
REAL_WORLD = [
    (lbl, obj) for lbl, obj in FIXTURE_MODELSERVICES if lbl.startswith("real-world-samples[")
]

# --- the schemas as validators -----------------------------------------------------


def checked_in(name: str) -> Any:
    text = (SCHEMA_DIR / name).read_text()
    return json.loads(text) if name.endswith(".json") else yaml.safe_load(text)


@cache
def json_schema_validator(name: str) -> jsonschema.Draft202012Validator:
    schema = checked_in(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def open_api_schema() -> dict[str, Any]:
    return checked_in(MODELSERVICE_CRD)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


# What the CRD's nodes may say, and their JSON Schema; anything else fails the walk.
CRD_KEYWORDS = {
    "additionalProperties", "description", "enum", "exclusiveMinimum", "items", "maxLength",
    "minItems", "minLength", "minimum", "nullable", "pattern", "properties", "required",
    "type", INT_OR_STRING, PRESERVE,
}  # fmt: skip


def crd_types(node: dict[str, Any]) -> list[str]:
    if node.get(INT_OR_STRING):
        return ["integer", "string"]
    return [node["type"]] if "type" in node else []  # none: any value


def crd_as_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """A CRD's structural schema as a JSON Schema that checks what the API server does:
    `nullable` admits null, int-or-string both, and an object without
    x-kubernetes-preserve-unknown-fields no unknown field (kubectl's strict field
    validation, its default, rejects them)."""
    unknown = set(node) - CRD_KEYWORDS
    assert not unknown, f"the walk does not know {sorted(unknown)}"
    out: dict[str, Any] = {k: v for k, v in node.items() if k in ("enum", "pattern", "required")}
    out |= {k: v for k, v in node.items() if k.startswith(("min", "max"))}
    types = crd_types(node)
    if types:
        out["type"] = types + ["null"] if node.get("nullable") else types
    if node.get("exclusiveMinimum"):
        out["exclusiveMinimum"] = out.pop("minimum")
    if "properties" in node:
        out["properties"] = {k: crd_as_json_schema(v) for k, v in node["properties"].items()}
    if "items" in node:
        out["items"] = crd_as_json_schema(node["items"])
    if "additionalProperties" in node:
        out["additionalProperties"] = crd_as_json_schema(node["additionalProperties"])
    elif node.get("type") == "object" and not node.get(PRESERVE):
        out["additionalProperties"] = False
    return out


@cache
def crd_validator() -> jsonschema.Draft202012Validator:
    schema = crd_as_json_schema(open_api_schema())
    schema["properties"]["metadata"] = {"type": "object"}  # ObjectMeta, the API server's own
    return jsonschema.Draft202012Validator(schema)


def first_error(validator: jsonschema.Draft202012Validator, obj: Any) -> tuple[str, str] | None:
    """The error jsonschema ranks first, as (JSON path, message); None when valid."""
    error = best_match(validator.iter_errors(obj))
    return None if error is None else (error.json_path, error.message)


def load_errors(obj: dict[str, Any]) -> list[tuple[str, str]]:
    loaded = krmfn_loads(obj)
    assert not isinstance(loaded, ModelService), "krmfn accepted it"
    return [(p.path, p.message) for p in loaded]


# --- the files are what the generator writes ---------------------------------------


def krmfn_schema(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "krmfn", "schema", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)


def test_the_checked_in_schemas_are_what_the_generator_writes() -> None:
    assert sorted(p.name for p in SCHEMA_DIR.iterdir()) == sorted(PUBLISHED_FILES)
    for name, text in published().items():
        assert (SCHEMA_DIR / name).read_text() == text, (
            f"regenerate: python -m krmfn schema ({name})"
        )


def test_check_passes_on_the_checked_in_schemas() -> None:
    checked = krmfn_schema("--check")
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


def test_check_names_each_file_that_differs_and_writes_nothing(tmp_path: Path) -> None:
    written = krmfn_schema("--out", str(tmp_path))
    assert (written.returncode, written.stderr) == (0, "")
    assert written.stdout.splitlines() == [f"wrote {tmp_path / name}" for name in PUBLISHED_FILES]
    edited = tmp_path / MODELSERVICE_CRD
    edited.write_text(edited.read_text().replace("nullable: true", "nullable: false", 1))
    (tmp_path / CONFIG_SCHEMA).unlink()
    before = edited.read_text()

    checked = krmfn_schema("--check", "--out", str(tmp_path))

    assert (checked.returncode, checked.stdout) == (1, "")
    assert checked.stderr.splitlines() == [
        f"[error] {edited} differs from what `krmfn schema` writes;"
        " regenerate it: python -m krmfn schema",
        f"[error] {tmp_path / CONFIG_SCHEMA} is missing; regenerate it: python -m krmfn schema",
    ]
    assert edited.read_text() == before
    assert not (tmp_path / CONFIG_SCHEMA).exists()


def test_the_output_is_json_with_sorted_keys_and_yaml_with_a_header() -> None:
    text = published()[MODELSERVICE_SCHEMA]
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    crd = published()[MODELSERVICE_CRD]
    assert crd.startswith(
        "# Generated by `python -m krmfn schema` from krmfn's pydantic models: do not edit.\n"
    )
    assert crd.endswith("    storage: true\n")


def test_help_names_the_schema_command() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "krmfn", "--help"], capture_output=True, text=True, check=True
    )
    assert "  krmfn schema          Writes the published schemas" in shown.stdout


# --- what the JSON Schema says -----------------------------------------------------


def test_the_schema_describes_the_whole_resource() -> None:
    schema = checked_in(MODELSERVICE_SCHEMA)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["apiVersion", "kind", "metadata", "spec"]
    assert schema["properties"]["apiVersion"] == {"const": "llm-d.ai/v1alpha1"}
    assert schema["properties"]["kind"] == {"const": "ModelService"}
    assert schema["properties"]["metadata"]["required"] == ["name"]
    assert schema["properties"]["spec"] == {"$ref": "#/$defs/Spec"}
    extensions = {"prefetch", "endpoint", "region", "account", "credentials", "adapters", "lora"}
    assert extensions | {"compileCache"} <= set(schema["$defs"]["ModelArtifacts"]["properties"])
    assert "target" in schema["$defs"]["Role"]["properties"]


def test_unknown_fields_are_allowed_where_pydantic_allows_them() -> None:
    """krmfn's own options forbid unknown fields; llm-d's models, which the CRD has more
    fields of, allow them."""
    definitions = checked_in(MODELSERVICE_SCHEMA)["$defs"]
    said = {name: d["additionalProperties"] for name, d in definitions.items()}
    models = {name: getattr(krmfn.modelservice, name) for name in definitions}
    assert said == {name: m.model_config["extra"] == "allow" for name, m in models.items()}
    forbidding = {name for name, allowed in said.items() if not allowed}
    assert {"Adapter", "Lora", "Prefetch", "PrefetchClaim", "Target"} <= forbidding
    assert {"Spec", "ModelArtifacts", "Role", "ContainerSpec"}.isdisjoint(forbidding)


@pytest.mark.parametrize("obj", **labelled(EXAMPLE_MODELSERVICES))
def test_every_example_modelservice_is_valid_and_loads(obj: dict[str, Any]) -> None:
    assert first_error(json_schema_validator(MODELSERVICE_SCHEMA), obj) is None
    assert first_error(crd_validator(), obj) is None
    assert isinstance(krmfn_loads(obj), ModelService)


@pytest.mark.parametrize("obj", **labelled(ACCEPTED))
def test_every_fixture_modelservice_krmfn_accepts_is_valid(obj: dict[str, Any]) -> None:
    assert first_error(json_schema_validator(MODELSERVICE_SCHEMA), obj) is None
    assert first_error(crd_validator(), obj) is None


@pytest.mark.parametrize("obj", **labelled(REAL_WORLD))
def test_llm_d_controller_samples_are_valid(obj: dict[str, Any]) -> None:
    assert first_error(json_schema_validator(MODELSERVICE_SCHEMA), obj) is None
    assert first_error(crd_validator(), obj) is None


def test_the_fixtures_hold_modelservices_of_each_kind() -> None:
    """The collection above must see the fixtures: accepted and rejected ones, the
    controller's samples, ModelServices given as the functionConfig."""
    accepted_cases = {lbl.split("[")[0] for lbl, _ in ACCEPTED}
    assert {
        "hf-basic",
        "prefetch",
        "object-storage",
        "targets",
        "config-modelservice",
    } <= accepted_cases
    assert len(REAL_WORLD) == 5
    assert len(ACCEPTED) < len(FIXTURE_MODELSERVICES), "no rejected fixture was seen"
    assert len(EXAMPLE_MODELSERVICES) >= 8


# One ModelService with every extension krmfn reads; each case below changes one field.
VALID: dict[str, Any] = {
    "apiVersion": "llm-d.ai/v1alpha1",
    "kind": "ModelService",
    "metadata": {"name": "qwen", "namespace": "llm-d"},
    "spec": {
        "routing": {"modelName": "Qwen/Qwen3-0.6B"},
        "modelArtifacts": {
            "uri": "pvc+hf://model-cache/hub/Qwen/Qwen3-0.6B",
            "prefetch": {"timeoutSeconds": 600, "claim": {"size": "20Gi"}},
            "adapters": [{"name": "sql-lora", "uri": "hf://org/sql-lora"}],
            "lora": {"mode": "static", "maxRank": 16, "maxLoras": 2},
            "compileCache": "pvc://compile-cache",
        },
        "decode": {
            "target": {"kind": "Deployment", "name": "decode"},
            "replicas": 2,
            "containers": [{"name": "vllm", "mountModelVolume": True}],
        },
    },
}


def changed(path: str, value: Any) -> dict[str, Any]:
    """VALID with the field at `path` (dots) set to `value`; `...` removes it."""
    obj = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    holder = obj
    for part in parents:
        holder = holder[part]
    if value is ...:
        del holder[last]
    else:
        holder[last] = value
    return obj


OBJECT_STORAGE = {
    "uri": "s3://models/org/model",
    "authSecretName": "s3-credentials",
    "endpoint": "http://minio:9000",
    "region": "us-east-1",
}
VALID_VARIANTS = {
    "every-extension": VALID,
    "prefetch-true": changed("spec.modelArtifacts.prefetch", True),
    "s3-options": changed("spec.modelArtifacts", OBJECT_STORAGE),
    "gs-credentials": changed(
        "spec.modelArtifacts", {"uri": "gs://models/org/model", "credentials": "workloadIdentity"}
    ),
    "az-account": changed(
        "spec.modelArtifacts", {"uri": "az://models/org/model", "account": "acct"}
    ),
    "size-string": changed("spec.modelArtifacts", {"uri": "hf://org/model", "size": "80Gi"}),
    "size-integer": changed("spec.modelArtifacts", {"uri": "hf://org/model", "size": 1000000}),
    "null-replicas": changed("spec.decode.replicas", None),
    "llm-d-fields": changed("spec.endpointPicker", {"replicas": 1}),
}


@pytest.mark.parametrize("obj", VALID_VARIANTS.values(), ids=VALID_VARIANTS.keys())
def test_a_modelservice_krmfn_accepts_is_valid_in_both_schemas(obj: dict[str, Any]) -> None:
    assert isinstance(krmfn_loads(obj), ModelService), krmfn_loads(obj)
    assert first_error(json_schema_validator(MODELSERVICE_SCHEMA), obj) is None
    assert first_error(crd_validator(), obj) is None


def unknown_field(model: type[BaseModel]) -> str:
    """load()'s message for a field that `model`, one of krmfn's own options, lacks."""
    return f"is not a known field; the fields are {', '.join(model.model_fields)}"


ADAPTER_NAME = "'../x' is not an adapter name: 1 to 128 letters, digits, '.', '_' and '-', starting with a letter or digit (it is a folder under the adapter root, and what clients send as model)"
# (ModelService, load's errors, the JSON Schema's first error, the CRD's first error:
# None where a structural schema cannot say it).
INVALID = {
    "prefetch-typo": (
        changed("spec.modelArtifacts.prefetch", {"timeoutSecond": 10}),
        [("spec.modelArtifacts.prefetch.timeoutSecond", unknown_field(Prefetch))],
        ("$.spec.modelArtifacts.prefetch", "Additional properties are not allowed ('timeoutSecond' was unexpected)"),
        None,  # a boolean or an object: the CRD keeps any value there
    ),
    "target-typo": (
        changed("spec.decode.target", {"kind": "Deployment", "nmae": "decode"}),
        [("spec.decode.target.nmae", unknown_field(Target))],
        ("$.spec.decode.target", "Additional properties are not allowed ('nmae' was unexpected)"),
        ("$.spec.decode.target", "Additional properties are not allowed ('nmae' was unexpected)"),
    ),
    "replicas-string": (
        changed("spec.decode.replicas", "2"),
        [("spec.decode.replicas", "must be an integer, not a string")],
        ("$.spec.decode.replicas", "'2' is not valid under any of the given schemas"),
        ("$.spec.decode.replicas", "'2' is not of type 'integer', 'null'"),
    ),
    "uri-missing": (
        changed("spec.modelArtifacts.uri", ...),
        [("spec.modelArtifacts.uri", "is required")],
        ("$.spec.modelArtifacts", "'uri' is a required property"),
        ("$.spec.modelArtifacts", "'uri' is a required property"),
    ),
    "adapter-typo": (
        changed("spec.modelArtifacts.adapters", [{"name": "sql-lora", "uri": "hf://org/sql-lora", "revison": "main"}]),
        [("spec.modelArtifacts.adapters[0].revison", unknown_field(Adapter))],
        ("$.spec.modelArtifacts.adapters[0]", "Additional properties are not allowed ('revison' was unexpected)"),
        ("$.spec.modelArtifacts.adapters[0]", "Additional properties are not allowed ('revison' was unexpected)"),
    ),
    "adapter-name-path": (
        changed("spec.modelArtifacts.adapters", [{"name": "../x", "uri": "hf://org/x"}]),
        [("spec.modelArtifacts.adapters[0].name", ADAPTER_NAME)],
        ("$.spec.modelArtifacts.adapters[0].name", "'../x' does not match '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'"),
        ("$.spec.modelArtifacts.adapters[0].name", "'../x' does not match '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'"),
    ),
    "lora-rank": (
        changed("spec.modelArtifacts.lora", {"maxRank": 7}),
        [("spec.modelArtifacts.lora.maxRank", "input should be 1, 8, 16, 32, 64, 128, 256, 320 or 512")],
        ("$.spec.modelArtifacts.lora.maxRank", "7 is not one of [1, 8, 16, 32, 64, 128, 256, 320, 512]"),
        ("$.spec.modelArtifacts.lora.maxRank", "7 is not one of [1, 8, 16, 32, 64, 128, 256, 320, 512, None]"),
    ),
    "lora-mode": (
        changed("spec.modelArtifacts.lora", {"mode": "dynamic"}),
        [("spec.modelArtifacts.lora.mode", "input should be 'static' or 'resolver'")],
        ("$.spec.modelArtifacts.lora.mode", "'dynamic' is not one of ['static', 'resolver']"),
        ("$.spec.modelArtifacts.lora.mode", "'dynamic' is not one of ['static', 'resolver']"),
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("obj", "load_says", "schema_says", "crd_says"), INVALID.values(), ids=INVALID.keys()
)
def test_a_shape_krmfn_rejects_is_rejected_by_the_schemas(
    obj: dict[str, Any],
    load_says: list[tuple[str, str]],
    schema_says: tuple[str, str],
    crd_says: tuple[str, str] | None,
) -> None:
    assert load_errors(obj) == load_says
    assert first_error(json_schema_validator(MODELSERVICE_SCHEMA), obj) == schema_says
    assert first_error(crd_validator(), obj) == crd_says


def test_what_a_json_schema_cannot_tell_apart() -> None:
    """2.0 is an integer to a JSON Schema (a number without a fraction); krmfn, strict as
    the API server, wants 2."""
    obj = changed("spec.decode.replicas", 2.0)
    assert load_errors(obj) == [("spec.decode.replicas", "must be an integer, not a number")]
    assert first_error(json_schema_validator(MODELSERVICE_SCHEMA), obj) is None


# --- the CRD -----------------------------------------------------------------------

# kubernetes-validate's strict schemas (no additional properties), as tests/test_schema.py.
KUBERNETES_SCHEMAS = (
    Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / "v1.35.0-local-strict"
)


def kubernetes_errors(obj: dict[str, Any], schema_file: str) -> list[str]:
    definitions = json.loads((KUBERNETES_SCHEMAS / "_definitions.json").read_text())
    registry = referencing.Registry().with_resource(
        "/api/_definitions.json", referencing.Resource.from_contents(definitions)
    )
    schema = json.loads((KUBERNETES_SCHEMAS / schema_file).read_text())
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    return sorted(
        f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator.iter_errors(obj)
    )


def test_the_crd_is_a_valid_custom_resource_definition() -> None:
    crd = checked_in(MODELSERVICE_CRD)
    assert kubernetes_errors(crd, "customresourcedefinition-apiextensions-v1.json") == []
    spec = crd["spec"]
    assert crd["metadata"] == {"name": "modelservices.llm-d.ai"}
    assert (spec["group"], spec["scope"], spec["names"]["kind"], spec["names"]["plural"]) == (
        "llm-d.ai", "Namespaced", "ModelService", "modelservices"
    )  # fmt: skip
    assert [(v["name"], v["served"], v["storage"]) for v in spec["versions"]] == [
        ("v1alpha1", True, True)
    ]


def test_the_strict_crd_schema_finds_a_draft_2020_bound() -> None:
    crd = checked_in(MODELSERVICE_CRD)
    lora = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    lora = lora["properties"]["modelArtifacts"]["properties"]["lora"]["properties"]
    lora["maxLoras"]["exclusiveMinimum"] = 0
    assert kubernetes_errors(crd, "customresourcedefinition-apiextensions-v1.json") == [
        "spec.versions.0.schema.openAPIV3Schema.properties.spec.properties.modelArtifacts"
        ".properties.lora.properties.maxLoras.exclusiveMinimum: 0 is not of type 'boolean', 'null'"
    ]


def children(node: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    out = [(f"{path}.properties.{k}", v) for k, v in (node.get("properties") or {}).items()]
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            out.append((f"{path}.{key}", node[key]))
    out += [(f"{path}.anyOf[{i}]", m) for i, m in enumerate(node.get("anyOf") or [])]
    return out


def structural_problems(node: dict[str, Any], path: str = "openAPIV3Schema") -> list[str]:
    """Where a schema breaks Kubernetes' rules for a structural schema."""
    problems = [f"{path}: {key}" for key in ("$ref", "$defs", "anyOf", "oneOf") if key in node]
    if not ("type" in node or node.get(INT_OR_STRING) or node.get(PRESERVE)):
        problems.append(f"{path}: no type")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: both properties and additionalProperties")
    if node.get("nullable") and "enum" in node and None not in node["enum"]:
        problems.append(f"{path}: nullable enum without null")
    for child_path, child in children(node, path):
        problems += structural_problems(child, child_path)
    return problems


def test_the_crd_schema_is_structural() -> None:
    assert structural_problems(open_api_schema()) == []
    root = open_api_schema()["properties"]
    assert root["metadata"] == {"type": "object"}, "only the API server says what metadata is"
    artifacts = root["spec"]["properties"]["modelArtifacts"]["properties"]
    assert artifacts["size"] == {
        "nullable": True,
        INT_OR_STRING: True,
        "description": field_docstrings(ModelArtifacts)["size"],
    }
    assert artifacts["prefetch"] == {
        PRESERVE: True,
        "description": f"{field_docstrings(ModelArtifacts)['prefetch']} Either a"
        f" boolean or an object with the fields {', '.join(Prefetch.model_fields)}.",
    }
    # a model's docstring, as pydantic gives it
    assert artifacts["adapters"]["items"]["description"] == inspect.cleandoc(Adapter.__doc__ or "")


def test_the_structural_check_finds_what_a_json_schema_says() -> None:
    assert structural_problems(modelservice_schema()) == [
        "openAPIV3Schema: $defs",
        "openAPIV3Schema: both properties and additionalProperties",
        "openAPIV3Schema.properties.apiVersion: no type",
        "openAPIV3Schema.properties.kind: no type",
        "openAPIV3Schema.properties.spec: $ref",
        "openAPIV3Schema.properties.spec: no type",
    ]


STRING, NULL = {"type": "string"}, {"type": "null"}
STRUCTURAL_FORMS = {
    "optional": (
        {"anyOf": [STRING, NULL], "description": "d", "default": None},
        {"type": "string", "nullable": True, "description": "d"},
    ),
    "optional-enum": (
        {"anyOf": [{"enum": ["a", "b"], "type": "string"}, NULL]},
        {"enum": ["a", "b", None], "type": "string", "nullable": True},
    ),
    "int-or-string": ({"anyOf": [STRING, {"type": "integer"}]}, {INT_OR_STRING: True}),
    "numbers": ({"anyOf": [{"type": "integer"}, {"type": "number"}]}, {"type": "number"}),
    "list-or-string": (
        {"anyOf": [{"type": "array", "items": STRING}, STRING], "description": "Args."},
        {PRESERVE: True, "description": "Args. Either an array or a string."},
    ),
    "exclusive-bound": (
        {"type": "integer", "exclusiveMinimum": 0},
        {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
    ),
    "const": ({"const": "x", "type": "string"}, {"enum": ["x"], "type": "string"}),
    "string-map": (
        {"type": "object", "additionalProperties": STRING},
        {"type": "object", "additionalProperties": STRING},
    ),
    "closed-object": (
        {"type": "object", "properties": {"a": STRING}, "additionalProperties": False},
        {"type": "object", "properties": {"a": STRING}},
    ),
    "open-object": (
        {"type": "object", "properties": {"a": STRING}},
        {"type": "object", "properties": {"a": STRING}, PRESERVE: True},
    ),
    "reference": (
        {"$ref": "#/$defs/A", "description": "the field's"},
        {"type": "string", "description": "the field's"},
    ),
}


@pytest.mark.parametrize(
    ("node", "expected"), STRUCTURAL_FORMS.values(), ids=STRUCTURAL_FORMS.keys()
)
def test_the_structural_form_of(node: dict[str, Any], expected: dict[str, Any]) -> None:
    definitions = {"A": {"type": "string", "description": "the model's", "title": "A"}}
    assert structural(node, definitions) == expected


def test_a_keyword_without_a_structural_form_stops_the_generator() -> None:
    with pytest.raises(ValueError) as raised:
        structural({"type": "string", "not": {"const": ""}}, {})
    assert str(raised.value) == (
        "the JSON Schema keyword 'not' has no structural form in krmfn.schema"
    )


# --- the config object -------------------------------------------------------------

CONFIG_DOC = ROOT / "docs" / "config.md"
FENCED_YAML = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)
TYPED_CONFIGS = [
    (f"docs/config.md[{i}]", obj)
    for i, block in enumerate(FENCED_YAML.findall(CONFIG_DOC.read_text()))
    for obj in objects(block)
    if is_typed_config(obj)
] + [
    (str(path.relative_to(ROOT)), obj)
    for path in example_files()
    for obj in objects(path.read_text())
    if is_typed_config(obj)
]


@pytest.mark.parametrize("obj", **labelled(TYPED_CONFIGS))
def test_every_typed_config_of_the_docs_and_examples_is_valid(obj: dict[str, Any]) -> None:
    assert isinstance(parse_config(obj), Config)
    assert first_error(json_schema_validator(CONFIG_SCHEMA), obj) is None


def test_the_typed_configs_are_found() -> None:
    labels = [label for label, _ in TYPED_CONFIGS]
    assert "docs/config.md[0]" in labels
    assert "examples/kpt-package/model-artifacts.yaml" in labels


def typed_config(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": CONFIG_API_VERSION,
        "kind": CONFIG_KIND,
        "metadata": {"name": "model-artifacts"},
        "spec": spec,
    }


KNOWN = ", ".join(Config.model_fields)
KINDS = "Deployment, StatefulSet, LeaderWorkerSet, DisaggregatedSet, PodCliqueSet"
INVALID_CONFIGS = {
    "typo": (
        {"strcit": True},
        ("spec.strcit", f"unknown field; known fields: {KNOWN}"),
        ("$.spec", "Additional properties are not allowed ('strcit' was unexpected)"),
    ),
    "strict-string": (
        {"strict": "yes"},
        ("spec.strict", "Input should be a valid boolean"),
        ("$.spec.strict", "'yes' is not of type 'boolean'"),
    ),
    "unknown-kind": (
        {"kinds": ["Service"]},
        ("spec.kinds", f"unknown workload kind Service; known kinds: {KINDS}"),
        ("$.spec.kinds[0]", f"'Service' is not one of {[k.strip() for k in KINDS.split(',')]}"),
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "parse_says", "schema_says"), INVALID_CONFIGS.values(), ids=INVALID_CONFIGS.keys()
)
def test_a_config_krmfn_rejects_is_rejected_by_the_schema(
    spec: dict[str, Any], parse_says: tuple[str, str], schema_says: tuple[str, str]
) -> None:
    with pytest.raises(FieldError) as raised:
        parse_config(typed_config(spec))
    assert (raised.value.path, raised.value.message) == parse_says
    assert first_error(json_schema_validator(CONFIG_SCHEMA), typed_config(spec)) == schema_says


def test_a_config_without_spec_is_valid() -> None:
    obj = typed_config({})
    del obj["spec"]
    assert parse_config(obj) == Config()
    assert first_error(json_schema_validator(CONFIG_SCHEMA), obj) is None


# --- editors -----------------------------------------------------------------------


def schema_of(path: Path) -> str | None:
    """The schema a file that holds only ModelServices, or only a config object, names."""
    found = objects(path.read_text())
    if found and all(is_modelservice(o) for o in found):
        return MODELSERVICE_SCHEMA
    if found and all(is_typed_config(o) for o in found):
        return CONFIG_SCHEMA
    return None


EDITED = [(path, name) for path in example_files() if (name := schema_of(path))]


@pytest.mark.parametrize(
    ("path", "schema"), EDITED, ids=[str(p.relative_to(ROOT)) for p, _ in EDITED]
)
def test_an_example_names_its_schema_on_its_first_line(path: Path, schema: str) -> None:
    first_line = path.read_text().splitlines(keepends=True)[0]
    named = EDITOR_COMMENT.fullmatch(first_line)
    assert named, f"{path.relative_to(ROOT)} starts with {first_line!r}"
    assert not os.path.isabs(named.group(1))
    assert (path.parent / named.group(1)).resolve() == SCHEMA_DIR / schema


def test_the_examples_that_name_a_schema_are_found() -> None:
    found = {str(p.relative_to(ROOT)) for p, _ in EDITED}
    assert {
        "examples/argocd-app/modelservice.yaml",
        "examples/kpt-package/modelservice.yaml",
        "examples/kpt-package/model-artifacts.yaml",
        "kustomization-example/llm-d-guide/modelservice.yaml",
        "kustomization-example/krmfn.yaml",
    } <= found
    assert "examples/demo.yaml" not in found, "a ResourceList is no ModelService"
