"""Which workloads a ModelService's roles find, and when two claims collide."""

from __future__ import annotations

from typing import Any

from krmfn.config import Config
from krmfn.kinds import DISCOVERY_FIELDS, WORKLOAD_KINDS
from krmfn.krm.document import read_document
from krmfn.modelservice import Identity, ModelService, load
from krmfn.targets import Discovery, discover

KINDS = tuple(WORKLOAD_KINDS)


def service(
    name: str, namespace: str = "n", model: str = "Qwen/Qwen3-32B", **roles: Any
) -> ModelService:
    spec = {"routing": {"modelName": model}, "modelArtifacts": {"uri": "hf://org/m"}, **roles}
    loaded = load(Identity(name, namespace), {"spec": spec}, Config())
    assert isinstance(loaded, ModelService), loaded
    return loaded


def found(items: str, *services: ModelService) -> Discovery:
    doc = read_document(f"kind: ResourceList\nitems:\n{items}", "resourcelist", DISCOVERY_FIELDS)
    return discover(doc.items, list(services), KINDS)


def claimed(discovery: Discovery, key: str) -> list[tuple[str, tuple[str, ...], str]]:
    return [(t.item.name, t.roles, t.how) for t in discovery.targets[key]]


def test_guide_labels_find_the_workload_by_the_last_segment_of_the_model_name() -> None:
    # llm-d's guides label `llm-d.ai/model: Qwen3-32B`; the role may be on the template only.
    items = """
- {apiVersion: apps/v1, kind: Deployment, metadata: {name: ob-decode, namespace: n,
   labels: {llm-d.ai/model: Qwen3-32B}},
   spec: {template: {metadata: {labels: {llm-d.ai/role: decode}}}}}
- {apiVersion: apps/v1, kind: Deployment, metadata: {name: other, namespace: n,
   labels: {llm-d.ai/model: Qwen3-8B, llm-d.ai/role: decode}}}
"""
    discovery = found(items, service("q", decode={}))
    assert claimed(discovery, "n/q") == [("ob-decode", ("decode",), "labels")]


def test_leaderworkerset_role_label_on_the_worker_template() -> None:
    items = """
- apiVersion: leaderworkerset.x-k8s.io/v1
  kind: LeaderWorkerSet
  metadata: {name: lws, namespace: n, labels: {llm-d.ai/model: qwen-qwen3-32b}}
  spec: {leaderWorkerTemplate: {workerTemplate: {metadata: {labels: {llm-d.ai/role: prefill}}}}}
"""
    discovery = found(items, service("q", prefill={}))
    assert claimed(discovery, "n/q") == [("lws", ("prefill",), "labels")]


def test_disaggregatedset_gets_each_role_it_holds() -> None:
    items = """
- apiVersion: disaggregatedset.x-k8s.io/v1
  kind: DisaggregatedSet
  metadata: {name: pd, namespace: n, labels: {llm-d.ai/model: Qwen3-32B}}
  spec: {roles: [{name: prefill, spec: {}}, {name: decode, spec: {}}, {name: other}]}
"""
    both = found(items, service("q", decode={}, prefill={}))
    assert claimed(both, "n/q") == [("pd", ("decode", "prefill"), "labels")]
    # one role by its target, the other by the labels: both apply
    mixed = found(
        items,
        service("q", decode={"target": {"kind": "DisaggregatedSet", "name": "pd"}}, prefill={}),
    )
    assert claimed(mixed, "n/q") == [("pd", ("decode", "prefill"), "target")]


def test_a_strong_claim_wins_over_labels() -> None:
    # b serves the same model and would find a-decode by its labels; a names it.
    items = """
- {apiVersion: apps/v1, kind: Deployment, metadata: {name: a-decode, namespace: n,
   labels: {llm-d.ai/model: Qwen3-32B, llm-d.ai/role: decode}}}
"""
    discovery = found(items, service("a", decode={}), service("b", decode={}))
    assert claimed(discovery, "n/a") == [("a-decode", ("decode",), "name")]
    assert claimed(discovery, "n/b") == []
    assert discovery.conflicts == {}


def test_two_targets_of_two_modelservices_on_one_workload_conflict() -> None:
    target = {"target": {"kind": "Deployment", "name": "decode"}}
    items = "- {apiVersion: apps/v1, kind: Deployment, metadata: {name: decode, namespace: n}}\n"
    discovery = found(items, service("a", decode=target), service("b", decode=target))
    assert discovery.conflicts == {
        "n/a": [
            "Deployment n/decode is also claimed by ModelService n/b (by target);"
            " a workload can belong to one ModelService only"
        ],
        "n/b": [
            "Deployment n/decode is also claimed by ModelService n/a (by target);"
            " a workload can belong to one ModelService only"
        ],
    }


def test_two_roles_on_one_deployment_conflict() -> None:
    target = {"target": {"kind": "Deployment"}}
    items = "- {apiVersion: apps/v1, kind: Deployment, metadata: {name: both, namespace: n}}\n"
    discovery = found(items, service("a", decode=target, prefill=target))
    assert discovery.conflicts == {
        "n/a": [
            "Deployment n/both is claimed by roles decode and prefill; a Deployment serves one"
            " role (give each role a target that selects its own workloads)"
        ]
    }


def test_a_config_modelservice_without_namespace_serves_every_namespace() -> None:
    spec = {
        "routing": {"modelName": "org/m"},
        "modelArtifacts": {"uri": "hf://org/m"},
        "decode": {"target": {"kind": "Deployment", "name": "decode"}},
    }
    from_config = load(Identity("q", "", from_config=True), {"spec": spec}, Config())
    from_items = load(Identity("q", ""), {"spec": spec}, Config())
    assert isinstance(from_config, ModelService) and isinstance(from_items, ModelService)
    items = (
        "- {apiVersion: apps/v1, kind: Deployment, metadata: {name: decode, namespace: llm-d}}\n"
    )
    assert claimed(found(items, from_config), "/q") == [("decode", ("decode",), "target")]
    assert claimed(found(items, from_items), "/q") == []


def test_a_target_namespace_overrides_the_modelservice_namespace() -> None:
    target = {"target": {"kind": "Deployment", "name": "decode", "namespace": "other"}}
    items = """
- {apiVersion: apps/v1, kind: Deployment, metadata: {name: decode, namespace: n}}
- {apiVersion: apps/v1, kind: Deployment, metadata: {name: decode, namespace: other}}
"""
    discovery = found(items, service("q", decode=target))
    assert [t.item.namespace for t in discovery.targets["n/q"]] == ["other"]
