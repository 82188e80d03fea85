"""Hypothesis strategies: ResourceLists as users and charts write them.

A generated list mixes ModelServices, the workloads they may own (found by name, by
ownerReference or by labels, some of them valid targets, some not) and unrelated items
(ConfigMaps, Services, Secrets, a PrometheusRule holding `{{ }}` of its own, Deployments
nobody owns). Every item is written in its own style: block or flow collections, plain,
single- or double-quoted strings, two or four spaces, comments at the end of lines and
between them. The text is built by hand rather than dumped whole so that the property
tests can tell which bytes each item spans and which items no ModelService may touch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import yaml
from hypothesis import strategies as st

MS_NAMES = ("opt", "llama", "granite-3", "chat")
NAMESPACES = ("", "serving", "prod")
MODEL_NAMES = ("facebook/opt-125m", "ibm-granite/granite-3.3-2b-instruct", "Qwen/Qwen2.5-0.5B")
VALID_URIS = (
    "hf://facebook/opt-125m",
    "hf://Qwen/Qwen2.5-0.5B@main",
    "pvc://weights/models/opt",
    "pvc://weights",
    "pvc+hf://cache/hub/facebook/opt-125m",
    "oci://registry.example.com/models/opt:v1",
    "oci://registry.example.com/models/opt//weights",
)
URIS = (
    *VALID_URIS,
    # Invalid ones: an error result for that ModelService, the others still apply.
    "s3://bucket/model",
    "hf://only-one-segment",
    "pvc://Bad_Claim/x",
)
# LoRA adapters of every kind of source; the same name twice is an error of its own.
ADAPTERS = (
    {"name": "sql-lora", "uri": "hf://acme/sql-lora@v1"},
    {"name": "chat_lora", "uri": "pvc://loras/chat"},
    {"name": "fin.lora", "uri": "s3://acme-loras/fin", "region": "us-east-1"},
    {"name": "legal", "uri": "oci://registry.example.com/loras/legal:v1//lora"},
    {"name": "Sql.Lora", "uri": "gs://acme-loras/sql"},
)
COMPILE_CACHES = ("pvc://compile-cache", "pvc://compile-cache/llm")
CONTAINER_NAMES = ("vllm", "sidecar", "fetch")
ROLES = ("decode", "prefill")
# Strings a YAML 1.1 reader takes for something else, template actions, odd characters.
TEXTS = (
    "--port=8000",
    "facebook/opt-125m",
    "yes",
    "on",
    "no",
    "12:30",
    "0777",
    "1e3",
    "~",
    "null",
    "",
    " padded ",
    "a: b",
    "#not-a-comment",
    "it's",
    'say "hi"',
    "café ✓",
    "{{ .HFModelName }}",
    "{{- .MountedModelPath -}}",
    '{{ "app_port" | getPort }}',
    "--served-model-name={{ .ModelName }}",
    "--enable-lora",
    "{{ .AdapterRoot }}/{{ .AdapterNames }}",
)
# A comment ending a line that holds a flow collection: ruamel writes such comments back
# where the YAML breaks (the function then writes the item without comments, with a
# warning: test_appended_env_after_a_commented_flow_entry_is_valid_yaml), and their
# columns drift (test_comment_after_a_flow_workload_converges). With these comments the
# convergence property once failed: a commented `args: []` that a later edit emptied again
# was written as `args:  # c` then `[]`, so the rerun lost its comments and warned where a
# fresh run did not (test_args_emptied_by_an_edit_keep_their_comments_and_equal_a_fresh_run).
# One case ruamel cannot write back at all (a commented flow entry before a block entry
# under a commented key) is pinned as a strict xfail, and inputs like it are left out of
# the rerun properties (`_comments_dropped` in test_properties.py).
FLOW_COMMENTS = True

WORKLOAD_API = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "LeaderWorkerSet": "leaderworkerset.x-k8s.io/v1",
}


@dataclass(frozen=True)
class GenItem:
    obj: Any
    text: str  # as written at column 0, without the list's "- "
    owned: bool  # a workload some ModelService may rewrite; every other item stays as is


@dataclass(frozen=True)
class Case:
    items: tuple[GenItem, ...]
    text: str
    kinds: tuple[str, ...]
    indent: int  # of the items list: each item is `_in_list(item.text, indent)` in `text`

    @property
    def data(self) -> bytes:
        return self.text.encode()


# Rendering -----------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    rng: random.Random = random.Random(0)


def _represent_str(dumper: _Dumper, data: str) -> yaml.ScalarNode:
    # The emitter falls back to quotes wherever plain style would change the value.
    style = dumper.rng.choice([None, None, "'", '"'])
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


def render_item(obj: Any, rng: random.Random, flow_comments: bool = True) -> str:
    """`flow_comments`: whether a comment may end a line that holds a flow collection."""
    _Dumper.rng = rng
    text = yaml.dump(
        obj,
        Dumper=_Dumper,
        default_flow_style=rng.choice([False, False, None, True]),
        sort_keys=False,
        width=1 << 30,
        indent=rng.choice([2, 2, 4]),
        allow_unicode=True,
    )
    lines = text.rstrip("\n").split("\n")
    out = []
    for index, line in enumerate(lines):
        if index and rng.random() < 0.08:
            out.append(" " * rng.randint(0, 6) + f"# note {index}")
        if rng.random() < 0.1 and (flow_comments or not any(c in line for c in "{[")):
            line += f"  # why {index}"
        out.append(line)
    return "\n".join(out) + "\n"


def in_list(text: str, indent: int) -> str:
    """An item's text as an entry of the items list, indented by `indent`."""
    pad = " " * indent
    lines = text.rstrip("\n").split("\n")
    first = pad + "- " + lines[0]
    rest = [(pad + "  " + line) if line else line for line in lines[1:]]
    return "\n".join([first, *rest]) + "\n"


def render_list(
    items: list[GenItem], config: Any, rng: random.Random, indent: int, kind: str = "ResourceList"
) -> str:
    head = ["apiVersion: config.kubernetes.io/v1", f"kind: {kind}"]
    if rng.random() < 0.3:
        head.reverse()
    text = ""
    if rng.random() < 0.3:
        text += "# generated by a pipeline\n"
    text += "\n".join(head) + "\n"
    if not items:
        text += "items: []\n"
    else:
        text += "items:\n"
        for item in items:
            if rng.random() < 0.15:
                text += " " * indent + "# the next item\n"
            text += in_list(item.text, indent)
    if config is not None:
        body = yaml.safe_dump(config, sort_keys=False, width=1 << 30)
        text += "functionConfig:\n" + "".join(f"  {line}\n" for line in body.splitlines())
    return text


# Objects -------------------------------------------------------------------------------


def _metadata(name: str, namespace: str, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta.update({k: v for k, v in extra.items() if v})
    return meta


texts = st.sampled_from(TEXTS)


@st.composite
def container_specs(draw: st.DrawFn, valid: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": draw(st.sampled_from(CONTAINER_NAMES))}
    # Without an image, a ContainerSpec naming a container the workload lacks is an error.
    if valid or draw(st.booleans()):
        spec["image"] = draw(st.sampled_from(["vllm/vllm-openai:v0.9.0", "busybox:1.36"]))
    if draw(st.integers(0, 4)) == 0:
        spec["command"] = ["vllm", "serve"]
    if draw(st.booleans()):
        spec["args"] = draw(st.lists(texts, max_size=3))
    if draw(st.integers(0, 3)) == 0:
        spec["env"] = [
            {"name": n, "value": draw(texts)}
            for n in draw(st.lists(st.sampled_from(["VLLM_LOG", "HF_HOME", "X"]), unique=True))
        ]
    if draw(st.integers(0, 4)) == 0:
        spec["resources"] = {"limits": {"nvidia.com/gpu": draw(st.sampled_from([1, "2"]))}}
    spec["mountModelVolume"] = draw(st.booleans())
    return spec


@st.composite
def roles(draw: st.DrawFn, valid: bool = False) -> dict[str, Any]:
    role: dict[str, Any] = {}
    if draw(st.booleans()):
        role["replicas"] = draw(st.integers(0, 4))
    role["containers"] = draw(
        st.lists(container_specs(valid), max_size=2, unique_by=lambda c: c["name"])
    )
    if draw(st.integers(0, 3)) == 0:
        role["initContainers"] = draw(
            st.lists(container_specs(valid), max_size=1, unique_by=lambda c: c["name"])
        )
    if draw(st.integers(0, 4)) == 0:
        role["acceleratorTypes"] = {"labelKey": "gpu", "labelValues": ["H100"]}
    return role


@st.composite
def model_service_specs(
    draw: st.DrawFn, valid: bool = False, present: tuple[str, ...] = (), model: str = ""
) -> dict[str, Any]:
    """`valid`: no error result of its own; `present`, `model`: fixed roles and modelName."""
    artifacts: dict[str, Any] = {"uri": draw(st.sampled_from(VALID_URIS if valid else URIS))}
    if draw(st.booleans()):
        artifacts["authSecretName"] = "hf-secret"
    if draw(st.integers(0, 3)) == 0:
        artifacts["size"] = draw(st.sampled_from(["5Gi", "500M"]))
    if draw(st.integers(0, 3)) == 0:
        artifacts["adapters"] = draw(
            st.lists(st.sampled_from(ADAPTERS), max_size=3, unique_by=lambda a: a["name"])
        )
        if draw(st.booleans()):
            artifacts["lora"] = {"mode": draw(st.sampled_from(["static", "resolver"]))}
    if draw(st.integers(0, 4)) == 0:
        artifacts["compileCache"] = draw(st.sampled_from(COMPILE_CACHES))
    spec: dict[str, Any] = {
        "routing": {
            "modelName": model or draw(st.sampled_from(MODEL_NAMES)),
            "ports": [{"name": "app_port", "port": 8000}],
        },
        "modelArtifacts": artifacts,
    }
    if draw(st.integers(0, 4)) == 0:
        spec["decoupleScaling"] = True
    if not present:
        present = draw(st.sampled_from([("decode",), ("prefill",), ("decode", "prefill")]))
    for role in present:
        spec[role] = draw(roles(valid))
    return spec


def model_service(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "llm-d.ai/v1alpha1",
        "kind": "ModelService",
        "metadata": _metadata(name, namespace),
        "spec": spec,
    }


@st.composite
def pod_templates(draw: st.DrawFn, app: str) -> dict[str, Any]:
    containers = []
    for name in draw(
        st.lists(st.sampled_from(CONTAINER_NAMES), min_size=1, max_size=2, unique=True)
    ):
        container: dict[str, Any] = {"name": name, "image": "vllm/vllm-openai:v0.8.5"}
        if draw(st.booleans()):
            container["args"] = draw(st.lists(texts, max_size=3))
        if draw(st.integers(0, 3)) == 0:
            container["env"] = [{"name": "HF_HOME", "value": "/somewhere"}]
        if draw(st.integers(0, 4)) == 0:
            container["volumeMounts"] = [{"name": "model-storage", "mountPath": "/model-cache"}]
        containers.append(container)
    spec: dict[str, Any] = {"containers": containers}
    if draw(st.integers(0, 3)) == 0:
        spec["volumes"] = [
            {"name": draw(st.sampled_from(["model-storage", "scratch"])), "emptyDir": {}}
        ]
    return {"metadata": {"labels": {"app": app}}, "spec": spec}


@st.composite
def workloads(
    draw: st.DrawFn, kinds: tuple[str, ...], services: tuple[GenItem, ...] = ()
) -> GenItem:
    """A workload that some ModelService may own: by name, ownerReference or labels;
    mostly meant for one of `services` (so that it is a target), sometimes for none."""
    ms = draw(st.sampled_from(MS_NAMES))
    namespace = draw(st.sampled_from(NAMESPACES))
    model = draw(st.sampled_from(MODEL_NAMES))
    role = draw(st.sampled_from(ROLES))
    if services and draw(st.integers(0, 4)):
        owner = draw(st.sampled_from(services)).obj
        ms, namespace = owner["metadata"]["name"], owner["metadata"].get("namespace", "")
        model = owner["spec"].get("routing", {}).get("modelName", model)
        role = draw(st.sampled_from([r for r in ROLES if r in owner["spec"]] or list(ROLES)))
    kind = draw(st.sampled_from(kinds + ("Deployment",)))
    how = draw(st.sampled_from(["name", "owner", "labels"]))
    labels: dict[str, str] = {}
    owners = []
    name = f"{ms}-{role}"
    if how != "name":
        name = f"{ms}-{role}-{how}"
        labels["llm-d.ai/role"] = role
    if how == "owner":
        owners = [{"apiVersion": "llm-d.ai/v1alpha1", "kind": "ModelService", "name": ms}]
    if how == "labels":
        labels["llm-d.ai/model"] = model.lower().replace("/", "-").replace(".", "-")
    meta = _metadata(name, namespace, labels=labels, ownerReferences=owners)
    template = draw(pod_templates(name))
    if kind == "LeaderWorkerSet":
        spec: dict[str, Any] = {
            "leaderWorkerTemplate": {
                "size": 2,
                "leaderTemplate": template,
                "workerTemplate": draw(pod_templates(name)),
            }
        }
    else:
        spec = {"selector": {"matchLabels": {"app": name}}, "template": template}
        if draw(st.booleans()):
            spec = {"replicas": draw(st.integers(1, 3)), **spec}
    obj = {"apiVersion": WORKLOAD_API[kind], "kind": kind, "metadata": meta, "spec": spec}
    return GenItem(obj, "", owned=True)


@st.composite
def unrelated(draw: st.DrawFn) -> GenItem:
    namespace = draw(st.sampled_from(NAMESPACES))
    choice = draw(
        st.sampled_from(
            [
                "ConfigMap",
                "Service",
                "Secret",
                "PrometheusRule",
                "Deployment",
                "ModelServiceLookalike",
            ]
        )
    )
    suffix = draw(st.sampled_from(["a", "b", "opt-decode"]))
    if choice == "ConfigMap":
        data = {
            k: draw(texts) for k in draw(st.lists(st.sampled_from(["a", "b", "mode"]), unique=True))
        }
        obj: Any = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata(f"cm-{suffix}", namespace),
            "data": data,
        }
    elif choice == "Service":
        obj = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(f"opt-{suffix}", namespace),
            "spec": {"ports": [{"port": 80}]},
        }
    elif choice == "Secret":
        # Named like a target on purpose: only workload kinds are targets.
        obj = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _metadata(suffix, namespace),
            "stringData": {"HF_TOKEN": "hf_notreal"},
        }
    elif choice == "PrometheusRule":
        obj = {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": _metadata(f"rules-{suffix}", namespace),
            "spec": {
                "groups": [
                    {
                        "name": "g",
                        "rules": [
                            {
                                "alert": "Down",
                                "annotations": {
                                    "summary": "{{ $labels.instance }} {{ .HFModelName }}"
                                },
                            }
                        ],
                    }
                ]
            },
        }
    elif choice == "Deployment":
        obj = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _metadata(f"unrelated-{suffix}", namespace),
            "spec": {
                "selector": {"matchLabels": {"app": "u"}},
                "template": draw(pod_templates("u")),
            },
        }
    else:
        # A ModelService of another group is not ours.
        obj = model_service(
            draw(st.sampled_from(MS_NAMES)), namespace, {"modelArtifacts": {"uri": "hf://a/b"}}
        )
        obj["apiVersion"] = "example.com/v1"
    return GenItem(obj, "", owned=False)


@st.composite
def model_services(draw: st.DrawFn, valid: bool = False) -> GenItem:
    obj = model_service(
        draw(st.sampled_from(MS_NAMES)),
        draw(st.sampled_from(NAMESPACES)),
        draw(model_service_specs(valid)),
    )
    return GenItem(obj, "", owned=False)


@st.composite
def cases(draw: st.DrawFn, valid: bool = False, flow_comments: bool = FLOW_COMMENTS) -> Case:
    """`valid`: every ModelService is valid on its own (conflicts between them may remain)."""
    rng = draw(st.randoms(use_true_random=False))
    kinds = draw(
        st.sampled_from([("Deployment",), ("Deployment", "StatefulSet", "LeaderWorkerSet")])
    )
    services = draw(
        st.lists(
            st.one_of(model_services(True), model_services(valid)),
            min_size=1,
            max_size=3,
            unique_by=lambda i: (i.obj["metadata"]["name"], i.obj["metadata"].get("namespace", "")),
        )
    )
    items = (
        services
        + draw(
            st.lists(
                workloads(kinds, tuple(services)),
                min_size=min(len(services), 1),
                max_size=4,
                unique_by=_identity,
            )
        )
        + draw(st.lists(unrelated(), max_size=4, unique_by=_identity))
    )
    items = draw(st.permutations(items))
    rendered = tuple(GenItem(i.obj, render_item(i.obj, rng, flow_comments), i.owned) for i in items)
    config = None
    if kinds != ("Deployment",):
        config = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "fn"},
            "data": {"kinds": ",".join(kinds)},
        }
    kind = "List" if rng.random() < 0.1 else "ResourceList"
    indent = rng.choice([0, 2])
    text = render_list(list(rendered), config, rng, indent, kind)
    return Case(rendered, text, kinds, indent)


def _identity(item: GenItem) -> tuple[str, str, str]:
    meta = item.obj["metadata"]
    return (item.obj["kind"], meta.get("namespace", ""), meta["name"])
