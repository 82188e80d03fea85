"""kustomize's target fields and Kubernetes' label selectors, as krmfn reads them."""

from __future__ import annotations

import pytest

from krmfn.krm.errors import FieldError
from krmfn.selectors import TargetSelector, parse_label_selector, unmatched

LABELS = {"app": "vllm", "llm-d.ai/role": "decode", "tier": "gpu", "gen": "3"}


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ("", True),
        ("app=vllm", True),
        ("app==vllm", True),
        ("app=other", False),
        ("app!=other", True),
        ("missing!=x", True),
        ("app", True),
        ("!app", False),
        ("!missing", True),
        ("tier in (gpu, tpu)", True),
        ("tier in (cpu)", False),
        ("missing in (x)", False),
        ("tier notin (cpu)", True),
        ("missing notin (x)", True),
        ("tier notin (gpu)", False),
        ("gen>2", True),
        ("gen<3", False),
        ("app>1", False),
        ("llm-d.ai/role=decode,tier in (gpu),!canary", True),
        ("llm-d.ai/role=decode,tier=cpu", False),
        ("missing=", False),
    ],
)
def test_label_selector_matches_as_kubernetes_does(selector: str, selected: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is selected


def test_empty_value_selects_an_empty_label() -> None:
    assert parse_label_selector("a=").matches({"a": ""}) is True
    assert parse_label_selector("a in (,b)").matches({"a": ""}) is True


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("a in x", "expected '(' in 'a in x', found 'x'"),
        ("a in (x", "expected ',' in 'a in (x', found the end"),
        ("=b", "expected a label key in '=b', found '='"),
        ("a b", "unknown operator 'b' in 'a b'"),
        ("a=b c", "expected ',' in 'a=b c', found 'c'"),
        ("a>x", "'x' in 'a>x' is not an integer"),
        ("-a=b", "'-a' in '-a=b' is not a valid label key"),
        ("Bad.Prefix/a=b", "'Bad.Prefix/a' in 'Bad.Prefix/a=b' is not a valid label key"),
        ("a=" + "v" * 64, f"'{'v' * 64}' in 'a={'v' * 64}' is not a valid label value"),
        ("a=b,", "expected a label key in 'a=b,', found the end"),
    ],
)
def test_label_selector_errors(selector: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_label_selector(selector)
    assert str(raised.value) == message


def select(spec: dict[str, str], **item: object) -> bool:
    fields: dict[str, object] = {
        "api_version": "apps/v1",
        "kind": "Deployment",
        "name": "ob-decode",
        "namespace": "llm-d",
        "labels": {"llm-d.ai/role": "decode"},
        "annotations": {
            "internal.config.kubernetes.io/previousNames": "decode,decode",
            "internal.config.kubernetes.io/previousNamespaces": "default,llm-d",
        },
        **item,
    }
    return TargetSelector.compile(spec, "spec.decode.target").selects(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "selected"),
    [
        ({"kind": "Deployment", "name": "decode"}, True),  # the name before namePrefix
        ({"kind": "Deployment", "name": "ob-decode"}, True),
        ({"kind": "Deployment", "name": "ob-"}, False),  # names match whole
        ({"name": ".*-decode"}, True),  # a regular expression, as in kustomize
        ({"kind": "StatefulSet", "name": "decode"}, False),
        ({"kind": "Deploy.*"}, True),
        ({"group": "apps", "version": "v1"}, True),
        ({"group": "leaderworkerset.x-k8s.io"}, False),
        ({"namespace": "llm-d"}, True),
        ({"namespace": "default"}, True),  # the namespace before kustomize's namespace:
        ({"namespace": "other"}, False),
        ({"labelSelector": "llm-d.ai/role=decode"}, True),
        ({"labelSelector": "llm-d.ai/role=prefill"}, False),
        ({"annotationSelector": "internal.config.kubernetes.io/previousNames"}, True),
        ({"annotationSelector": "!internal.config.kubernetes.io/previousNames"}, False),
    ],
)
def test_target_selects_as_kustomize_patch_targets_do(spec: dict[str, str], selected: bool) -> None:
    assert select(spec) is selected


def test_target_without_kustomize_record_matches_the_current_name_only() -> None:
    assert select({"name": "decode"}, annotations={}) is False
    assert select({"name": "ob-decode"}, annotations={}) is True
    # A resource without a namespace is in "default", as kustomize compares it.
    assert select({"namespace": "default"}, namespace="", annotations={}) is True


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [
        ({"name": "a("}, "spec.decode.target.name", "'a(' is not a regular expression:"),
        ({"kind": "["}, "spec.decode.target.kind", "'[' is not a regular expression:"),
        ({"labelSelector": "a in"}, "spec.decode.target.labelSelector", "expected '(' in"),
        ({"annotationSelector": "!"}, "spec.decode.target.annotationSelector", "expected a"),
    ],
)
def test_target_errors_name_the_field(spec: dict[str, str], path: str, message: str) -> None:
    with pytest.raises(FieldError) as raised:
        TargetSelector.compile(spec, "spec.decode.target")
    assert raised.value.path == path
    assert raised.value.message.startswith(message)


def test_describe_writes_the_target_back_in_flow_style() -> None:
    target = TargetSelector.compile({"kind": "Deployment", "name": "decode"}, "f")
    assert target.describe() == "{kind: Deployment, name: decode}"


@pytest.mark.parametrize(
    ("selector", "failed"),
    [
        ({"matchLabels": {"app": "vllm"}}, []),
        ({"matchLabels": {"app": "other"}}, ["app"]),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gpu"]}]}, []),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["gpu"]}]}, ["tier"]),
        ({"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]}, []),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, ["app"]),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, []),
        (
            {
                "matchLabels": {"app": "vllm", "gen": "2"},
                "matchExpressions": [
                    {"key": "llm-d.ai/role", "operator": "NotIn", "values": ["decode"]}
                ],
            },
            ["gen", "llm-d.ai/role"],
        ),
        ({}, []),
        ("not a selector", []),  # left to the API server
    ],
)
def test_api_selector_against_template_labels(selector: object, failed: list[str]) -> None:
    assert unmatched(selector, LABELS) == failed
