"""Every golden output is something a Kubernetes API server would accept.

Built-in kinds are validated against the strict JSON schemas that `kubernetes-validate`
ships (no additional properties), for a Kubernetes version with image volumes. The pod
templates of a LeaderWorkerSet, of each role of a DisaggregatedSet and of each clique of a
PodCliqueSet are validated as PodTemplateSpecs; other custom resources (ModelService, PrometheusRule, ...) have no schema
here and are left out. On top of the schemas, the pod specs get the checks the API server
makes and the schemas cannot express: unique volume names, mount paths and env names,
`value` xor `valueFrom`, mounts naming an existing volume, unique container names; and a
Deployment's or StatefulSet's selector must select its own pod template.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import referencing
import yaml

from tests.golden import FIXTURES, ROOT

# Image volumes are GA from 1.35; the schemas of older versions reject `volumes[].image`.
KUBERNETES_VERSION = "1.35"
SCHEMA_DIR = (
    Path(kubernetes_validate.__file__).parent
    / "kubernetes-json-schema"
    / f"v{KUBERNETES_VERSION}.0-local-strict"
)
BUILTIN_GROUPS = ("v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2")
LWS = ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet")
DISAGGREGATED = ("disaggregatedset.x-k8s.io/v1", "DisaggregatedSet")
GROVE = ("grove.io/v1alpha1", "PodCliqueSet")


def golden_outputs() -> list[Path]:
    files = sorted(FIXTURES.glob("*/expected.yaml"))
    files += sorted((ROOT / "kustomization-example").glob("**/expected.yaml"))
    # the expected renders of the kpt packages, kept beside each package
    files += sorted((ROOT / "examples").glob("kpt-*.expected/*"))
    return files


def _documents(text: str) -> list[Any]:
    """The documents kubectl would read; one it could not (a tag whose value cannot be
    built, an alias without its anchor: the fixtures of unreadable input, which come back
    as they came) is left out."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.CSafeLoader))
    except yaml.YAMLError:
        return []
    docs = []
    for node in nodes:
        loader = yaml.CSafeLoader("")
        try:
            docs.append(loader.construct_document(node))
        except (yaml.YAMLError, ValueError):
            continue
        finally:
            loader.dispose()
    return docs


def _resources(path: Path) -> list[dict[str, Any]]:
    # PyYAML reads YAML 1.1 as kubectl does: `answer: no` is a boolean there.
    out: list[dict[str, Any]] = []
    for doc in _documents(path.read_text()):
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") in ("ResourceList", "List"):
            out += [i for i in doc.get("items") or [] if isinstance(i, dict)]
        else:
            out.append(doc)
    return out


def golden_inputs(output: Path) -> list[Path]:
    """The files a golden output was made from, where the output keeps their names (a
    kustomize overlay renames what it builds: its outputs have no source file here)."""
    if output.parent.parent == FIXTURES:
        return [output.parent / "input.yaml"]
    if output.parent.name.endswith(".expected"):
        package = output.parent.with_name(output.parent.name.removesuffix(".expected"))
        # a file the function generated (a prefetch Job's) has no source
        return [p for p in [package / output.name] if p.exists()]
    return sorted((output.parent / "workloads").glob("*.yaml"))


def _key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") or {}
    return (obj.get("apiVersion"), obj.get("kind"), meta.get("namespace"), meta.get("name"))


def _cases() -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    cases = []
    for path in golden_outputs():
        inputs = {_key(o): o for p in golden_inputs(path) for o in _resources(p)}
        for index, obj in enumerate(_resources(path)):
            name = (obj.get("metadata") or {}).get("name", "")
            label = f"{path.relative_to(ROOT)}[{index}]:{obj.get('kind')}/{name}"
            cases.append((label, obj, inputs.get(_key(obj))))
    return cases


CASES = _cases()
BUILTIN = [(lbl, obj, src) for lbl, obj, src in CASES if obj.get("apiVersion") in BUILTIN_GROUPS]
LWS_CASES = [
    (lbl, obj)
    for lbl, obj, _ in CASES
    if (obj.get("apiVersion"), obj.get("kind")) in (LWS, DISAGGREGATED, GROVE)
]


@cache
def _registry() -> referencing.Registry:
    definitions = json.loads((SCHEMA_DIR / "_definitions.json").read_text())
    resource = referencing.Resource.from_contents(definitions)
    # The schemas refer to their definitions as /api/_definitions.json.
    return referencing.Registry().with_resource("/api/_definitions.json", resource)


def _schema_errors(obj: Any, schema_file: str) -> list[str]:
    schema = json.loads((SCHEMA_DIR / schema_file).read_text())
    validator = jsonschema.Draft202012Validator(schema, registry=_registry())
    return sorted(
        f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator.iter_errors(obj)
    )


def pod_templates(obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The pod templates of a LeaderWorkerSet or a DisaggregatedSet, with their paths; a
    PodCliqueSet's cliques as the PodTemplateSpecs Grove makes of their labels and
    podSpec."""
    spec = obj.get("spec") or {}
    if (obj.get("apiVersion"), obj.get("kind")) == GROVE:
        return [
            (
                f"spec.template.cliques[name={c['name']}]",
                {"metadata": {"labels": c.get("labels") or {}}, "spec": c["spec"]["podSpec"]},
            )
            for c in spec["template"]["cliques"]
        ]
    groups = [("spec", spec)]
    if (obj.get("apiVersion"), obj.get("kind")) == DISAGGREGATED:
        groups = [(f"spec.roles[name={r['name']}].spec", r["spec"]) for r in spec["roles"]]
    return [
        (f"{where}.leaderWorkerTemplate.{name}", group["leaderWorkerTemplate"][name])
        for where, group in groups
        for name in ("leaderTemplate", "workerTemplate")
        if isinstance(group["leaderWorkerTemplate"].get(name), dict)
    ]


def pod_specs(obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    spec = obj.get("spec") or {}
    if (obj.get("apiVersion"), obj.get("kind")) == GROVE:
        return [(f"{where}.spec.podSpec", t["spec"]) for where, t in pod_templates(obj)]
    if (obj.get("apiVersion"), obj.get("kind")) in (LWS, DISAGGREGATED):
        return [(f"{where}.spec", t.get("spec") or {}) for where, t in pod_templates(obj)]
    if obj.get("kind") == "Pod":
        return [("spec", spec)]
    template = spec.get("template")
    if isinstance(template, dict) and obj.get("kind") != "Service":
        return [("spec.template.spec", template.get("spec") or {})]
    return []


def api_server_errors(where: str, pod: dict[str, Any]) -> list[str]:
    """What the API server's validation rejects in a PodSpec beyond the JSON schema."""
    errors = []
    volumes = [v.get("name") for v in pod.get("volumes") or []]
    for name, count in Counter(volumes).items():
        if count > 1:
            errors.append(f"{where}.volumes: duplicate volume name {name!r}")
    containers = [
        (list_name, c)
        for list_name in ("initContainers", "containers", "ephemeralContainers")
        for c in pod.get(list_name) or []
    ]
    for name, count in Counter(c.get("name") for _, c in containers).items():
        if count > 1:
            errors.append(f"{where}: duplicate container name {name!r}")
    for list_name, container in containers:
        at = f"{where}.{list_name}[name={container.get('name')}]"
        mounts = container.get("volumeMounts") or []
        for path, count in Counter(m.get("mountPath") for m in mounts).items():
            if count > 1:
                errors.append(f"{at}.volumeMounts: duplicate mountPath {path!r}")
        for mount in mounts:
            if mount.get("name") not in volumes:
                errors.append(f"{at}.volumeMounts: volume {mount.get('name')!r} does not exist")
        env = container.get("env") or []
        for name, count in Counter(e.get("name") for e in env).items():
            if count > 1:
                errors.append(f"{at}.env: duplicate env name {name!r}")
        for var in env:
            if "value" in var and var.get("valueFrom") is not None and var.get("value") != "":
                errors.append(f"{at}.env[name={var.get('name')}]: both value and valueFrom")
    return errors


def schema_errors(obj: dict[str, Any]) -> list[str]:
    """Every strict-schema error of a built-in object, as `path: message` lines."""
    # kubernetes-validate's file names: deployment-apps-v1.json, configmap-v1.json
    group_version = str(obj["apiVersion"]).replace("/", "-")
    return _schema_errors(obj, f"{str(obj['kind']).lower()}-{group_version}.json")


@pytest.mark.parametrize(
    "obj",
    [obj for _, obj, _ in BUILTIN],
    ids=[label for label, _, _ in BUILTIN],
)
def test_builtin_kind_matches_strict_schema(obj: dict[str, Any]) -> None:
    assert schema_errors(obj) == []


GENERATED = "krmfn.llm-d.ai/generated-by"
# Objects with an input to compare with: not those a kustomize overlay renamed, nor those
# the function generated (a prefetch Job): the strict schema holds for those whole.
SOURCED = [
    (lbl, obj, src)
    for lbl, obj, src in BUILTIN
    if (lbl.startswith("kustomization-example/expected") or "kustomization-example/" not in lbl)
    and GENERATED not in ((obj.get("metadata") or {}).get("annotations") or {})
]


@pytest.mark.parametrize(
    ("obj", "source"), [(obj, src) for _, obj, src in SOURCED], ids=[lbl for lbl, _, _ in SOURCED]
)
def test_function_adds_no_schema_error(obj: dict[str, Any], source: dict[str, Any] | None) -> None:
    # Whatever the fixture's input got wrong, the function must not make it worse.
    assert source is not None, "every output object comes from an input object"
    assert set(schema_errors(obj)) <= set(schema_errors(source))


@pytest.mark.parametrize("obj", [obj for _, obj in LWS_CASES], ids=[lbl for lbl, _ in LWS_CASES])
def test_leader_worker_templates_match_pod_template_schema(obj: dict[str, Any]) -> None:
    templates = pod_templates(obj)
    assert templates
    for _, template in templates:
        assert _schema_errors(template, "podtemplatespec-v1.json") == []


def selector_errors(obj: dict[str, Any]) -> list[str]:
    """The API server's `selector does not match template labels`, for the kinds whose
    selector the user writes (matchLabels and the four matchExpressions operators)."""
    if obj.get("kind") not in ("Deployment", "StatefulSet"):
        return []
    spec = obj.get("spec") or {}
    selector = spec.get("selector") or {}
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    errors = [
        f"matchLabels {key}={value} but the template has {labels.get(key)!r}"
        for key, value in (selector.get("matchLabels") or {}).items()
        if labels.get(key) != value
    ]
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        held = {
            "In": key in labels and labels[key] in (values or []),
            "NotIn": key not in labels or labels[key] not in (values or []),
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not held:
            errors.append(f"matchExpressions {key} {operator} {values} fails on {labels!r}")
    return errors


SELECTED = [(lbl, obj) for lbl, obj, _ in CASES if obj.get("kind") in ("Deployment", "StatefulSet")]


@pytest.mark.parametrize("obj", [obj for _, obj in SELECTED], ids=[lbl for lbl, _ in SELECTED])
def test_selector_selects_the_pod_template(obj: dict[str, Any]) -> None:
    assert selector_errors(obj) == []


def test_selector_check_finds_a_mismatch() -> None:
    deployment = {
        "kind": "Deployment",
        "spec": {
            "selector": {
                "matchLabels": {"llm-d.ai/model": "Qwen3-32B"},
                "matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}],
            },
            "template": {
                "metadata": {"labels": {"llm-d.ai/model": "qwen-qwen3-32b", "canary": "1"}}
            },
        },
    }
    assert selector_errors(deployment) == [
        "matchLabels llm-d.ai/model=Qwen3-32B but the template has 'qwen-qwen3-32b'",
        "matchExpressions canary DoesNotExist None fails on"
        " {'llm-d.ai/model': 'qwen-qwen3-32b', 'canary': '1'}",
    ]


WITH_PODS = [
    (lbl, obj) for lbl, obj in [(c[0], c[1]) for c in BUILTIN] + LWS_CASES if pod_specs(obj)
]


@pytest.mark.parametrize("obj", [obj for _, obj in WITH_PODS], ids=[lbl for lbl, _ in WITH_PODS])
def test_pod_specs_pass_api_server_validation(obj: dict[str, Any]) -> None:
    errors = [e for where, pod in pod_specs(obj) for e in api_server_errors(where, pod)]
    assert errors == []


def test_every_golden_output_is_covered() -> None:
    # A fixture whose workloads were all of an unknown group would silently check nothing.
    assert len(golden_outputs()) >= len(list(FIXTURES.glob("*/expected.yaml"))) + 4
    kinds = {(o.get("apiVersion"), o.get("kind")) for _, o, _ in BUILTIN}
    assert {("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("v1", "Service")} <= kinds
    assert {("batch/v1", "Job"), ("v1", "PersistentVolumeClaim")} <= kinds, "generated items"
    assert {(o.get("apiVersion"), o.get("kind")) for _, o in LWS_CASES} == {
        LWS,
        DISAGGREGATED,
        GROVE,
    }
    assert any(
        "image" in v for _, o in WITH_PODS for _, p in pod_specs(o) for v in p.get("volumes") or []
    ), "an oci:// image volume must be among the checked outputs"
    unknown = {
        (o.get("apiVersion"), o.get("kind"))
        for _, o, _ in CASES
        if "." not in str(o.get("apiVersion")).split("/")[0]
        and o.get("apiVersion") not in BUILTIN_GROUPS
    }
    assert unknown == set(), "a built-in group this test does not validate"


# The checks themselves must be able to fail.

GOOD_POD = {
    "volumes": [{"name": "model-storage", "emptyDir": {}}],
    "containers": [
        {
            "name": "vllm",
            "image": "vllm",
            "volumeMounts": [{"name": "model-storage", "mountPath": "/model-cache"}],
            "env": [{"name": "HF_HOME", "value": "/model-cache"}],
        }
    ],
}


def test_api_server_checks_accept_a_valid_pod() -> None:
    assert api_server_errors("spec", GOOD_POD) == []
    template = {"metadata": {"labels": {"a": "b"}}, "spec": GOOD_POD}
    assert _schema_errors(template, "podtemplatespec-v1.json") == []


def test_api_server_checks_find_each_problem() -> None:
    container = GOOD_POD["containers"][0]
    pod = {
        "volumes": [*GOOD_POD["volumes"], {"name": "model-storage", "emptyDir": {}}],
        "initContainers": [{"name": "vllm", "image": "busybox"}],
        "containers": [
            {
                **container,
                "volumeMounts": [
                    *container["volumeMounts"],
                    {"name": "cache", "mountPath": "/model-cache"},
                ],
                "env": [
                    *container["env"],
                    {"name": "HF_HOME", "value": "/x"},
                    {"name": "HF_TOKEN", "value": "t", "valueFrom": {"secretKeyRef": {}}},
                ],
            }
        ],
    }
    c = "spec.containers[name=vllm]"
    assert api_server_errors("spec", pod) == [
        "spec.volumes: duplicate volume name 'model-storage'",
        "spec: duplicate container name 'vllm'",
        f"{c}.volumeMounts: duplicate mountPath '/model-cache'",
        f"{c}.volumeMounts: volume 'cache' does not exist",
        f"{c}.env: duplicate env name 'HF_HOME'",
        f"{c}.env[name=HF_TOKEN]: both value and valueFrom",
    ]


def test_strict_schema_rejects_unknown_fields_and_wrong_types() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {**GOOD_POD, "volume": []},
            },
            "replicas": "2",
        },
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    template = {"spec": {"containers": [{"name": "a", "image": "b", "mountModelVolume": True}]}}
    assert _schema_errors(template, "podtemplatespec-v1.json") == [
        "spec.containers.0: Additional properties are not allowed"
        " ('mountModelVolume' was unexpected)"
    ]
