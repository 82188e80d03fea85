"""Applying a ModelService's roles to one target workload."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from krmfn.gotemplate import has_actions
from krmfn.journal import ABSENT, Journal, Path, get, indexed, undo
from krmfn.kinds import MODEL_LABEL, ROLE_LABEL, SERVING_LABEL
from krmfn.modelservice import ContainerSpec, ModelService, Role
from krmfn.names import is_secret_name
from krmfn.selectors import selector_matches
from krmfn.sources import VOLUME_NAME, Source
from krmfn.workloads import (
    SELECTOR_KINDS,
    all_pod_templates,
    holds_roles,
    pod_templates,
    role_names,
    role_spec,
)

RECORD_ANNOTATION = "krmfn.llm-d.ai/applied"
RECORD_VERSION = 1
# Rendered fields of containers, as the behaviour spec lists them.
RENDERED_FIELDS = ("command", "args")
CONTAINER_LISTS = ("initContainers", "containers")

# (text, field path, container name, value named like a credential) -> rendered text;
# the last three only shape the error message.
Render = Callable[[str, str, str, bool], str]


class ApplyError(Exception):
    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path


class RenderedRole(NamedTuple):
    """A role's ContainerSpecs with their template actions already rendered."""

    role: Role
    containers: tuple[ContainerSpec, ...]
    init_containers: tuple[ContainerSpec, ...]


def dotted(path: Path) -> str:
    """`spec.roles[name=decode].spec.replicas`, `spec.template.spec.containers[0].args[2]`:
    a path of keys, indexes and selectors as a field path."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, list):
            out += f"[{part[0]}={part[1]}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _containers(obj: Any, template: Path) -> Iterator[tuple[str, int, Any]]:
    for list_name in CONTAINER_LISTS:
        containers = get(obj, template + ["spec", list_name])
        if isinstance(containers, list):
            for index, container in enumerate(containers):
                if isinstance(container, dict):
                    yield list_name, index, container


def _render_workload(journal: Journal, template: Path, render: Render) -> None:
    obj = journal.root
    for list_name, index, container in _containers(obj, template):
        base = template + ["spec", list_name, index]
        name = str(container.get("name", ""))
        for field in RENDERED_FIELDS:
            values = container.get(field)
            if isinstance(values, list):
                for i, value in enumerate(values):
                    if isinstance(value, str) and has_actions(value):
                        where = dotted(base + [field, i])
                        journal.set(base + [field, i], render(value, where, name, False))
        env = container.get("env")
        if isinstance(env, list):
            for i, var in enumerate(env):
                value = var.get("value") if isinstance(var, dict) else None
                if isinstance(value, str) and has_actions(value):
                    where = dotted(base + ["env", i, "value"])
                    secret = is_secret_name(str(var.get("name", "")))
                    rendered = render(value, where, name, secret)
                    journal.set(base + ["env", i, "value"], rendered)


def literal_secrets(obj: Any, kind: str) -> list[tuple[str, str, str]]:
    """(field path, container, env name) of env vars named like a credential that hold a
    literal value. Only names are returned: the values are never read into a message."""
    found = []
    for template in all_pod_templates(kind, obj):
        for list_name, index, container in _containers(obj, template):
            env = container.get("env")
            for i, var in enumerate(env if isinstance(env, list) else []):
                name = var.get("name") if isinstance(var, dict) else None
                if isinstance(name, str) and is_secret_name(name) and var.get("value"):
                    path = dotted(template + ["spec", list_name, index, "env", i, "value"])
                    found.append((path, str(container.get("name", "")), name))
    return found


def _env_entry(var: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": var.name}
    if var.value is not None:
        entry["value"] = var.value
    if var.valueFrom is not None:
        entry["valueFrom"] = var.valueFrom
    return entry


def _has_container(journal: Journal, template: Path, list_name: str, name: str) -> bool:
    return journal.get(template + ["spec", list_name, ["name", name]]) is not ABSENT


def _merge_containers(
    journal: Journal,
    templates: list[Path],
    list_name: str,
    spec: ContainerSpec,
    source: Source,
    where: str,
    workload: str,
) -> None:
    """A ContainerSpec applies to each pod template with a container of its name; when
    none has one, it is added to every template if it has an image to run."""
    having = [t for t in templates if _has_container(journal, t, list_name, spec.name)]
    if not having:
        if not spec.image:
            which = "none of the pod templates of " if len(templates) > 1 else ""
            raise ApplyError(
                f"{where} names container {spec.name!r}, which {which}{workload} does not"
                " have; give it an image to add it, or fix the name",
                where,
            )
        for template in templates:
            journal.ensure(template + ["spec", list_name], [])
            path = template + ["spec", list_name, ["name", spec.name]]
            journal.set(path, {"name": spec.name, "image": spec.image})
        having = templates
    for template in having:
        path = template + ["spec", list_name, ["name", spec.name]]
        _merge_container(journal, path, spec, source, workload)


def _merge_container(
    journal: Journal, path: Path, spec: ContainerSpec, source: Source, workload: str
) -> None:
    if spec.image:
        journal.set(path + ["image"], spec.image)
    if spec.command:
        journal.set(path + ["command"], list(spec.command))
    args = list(spec.args or [])
    revision = source.revision
    if spec.mountModelVolume and revision and not _has_revision(journal.get(path + ["args"]), args):
        # vLLM takes the revision as an option; options may precede the model argument.
        args.append(f"--revision={revision}")
    if args:
        journal.prefix(path + ["args"], args)
    explicit_env = set()
    for var in spec.env or []:
        explicit_env.add(var.name)
        journal.ensure(path + ["env"], [])
        journal.set(path + ["env", ["name", var.name]], _env_entry(var))
    for env_from in spec.envFrom or []:
        journal.ensure(path + ["envFrom"], [])
        journal.set(path + ["envFrom", ["=", env_from]], env_from)
    if spec.resources is not None:
        for section in ("limits", "requests"):
            for key, quantity in (getattr(spec.resources, section) or {}).items():
                journal.ensure(path + ["resources"], {})
                journal.ensure(path + ["resources", section], {})
                journal.set(path + ["resources", section, key], quantity)
    if not spec.mountModelVolume:
        return
    root = source.options.mount_root
    mounts = journal.get(path + ["volumeMounts"])
    for index, mount in enumerate(mounts if isinstance(mounts, list) else []):
        if (
            isinstance(mount, dict)
            and str(mount.get("mountPath", "")).rstrip("/") == root
            and mount.get("name") != VOLUME_NAME
        ):
            at = dotted(indexed(journal.root, path + ["volumeMounts", index]))
            raise ApplyError(
                f"{workload} container {spec.name!r} already mounts volume"
                f" {mount.get('name')!r} at {root}; remove it or move it, the model volume"
                f" {VOLUME_NAME!r} goes there",
                at,
            )
    journal.ensure(path + ["volumeMounts"], [])
    journal.set(path + ["volumeMounts", ["name", VOLUME_NAME]], source.mount())
    for entry in source.env():
        if entry["name"] not in explicit_env:
            journal.ensure(path + ["env"], [])
            journal.set(path + ["env", ["name", entry["name"]]], entry)


def _has_revision(own: Any, args: list[str]) -> bool:
    given = [*args, *(own if isinstance(own, list) else [])]
    return any(str(a) == "--revision" or str(a).startswith("--revision=") for a in given)


def _accelerators(journal: Journal, template: Path, role: Role) -> None:
    accel = role.acceleratorTypes
    if accel is None:
        return
    expression = {"key": accel.labelKey, "operator": "In", "values": list(accel.labelValues)}
    affinity = template + ["spec", "affinity"]
    required = affinity + ["nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"]
    terms = journal.get(required + ["nodeSelectorTerms"])
    if not isinstance(terms, list) or not terms:
        journal.ensure(affinity, {})
        journal.ensure(affinity + ["nodeAffinity"], {})
        journal.ensure(required, {})
        journal.set(required + ["nodeSelectorTerms"], [{"matchExpressions": [expression]}])
        return
    # Terms are ORed: the accelerator requirement must hold in each of them.
    for index in range(len(terms)):
        expressions = required + ["nodeSelectorTerms", index, "matchExpressions"]
        journal.ensure(expressions, [])
        journal.set(expressions + [["key", accel.labelKey]], expression)


def _labels(journal: Journal, metadata: Path, labels: dict[str, str]) -> None:
    """Add the labels the workload does not have; a value it has is never changed:
    selectors, InferencePools and Services select on it."""
    journal.ensure(metadata, {})
    journal.ensure(metadata + ["labels"], {})
    present = journal.get(metadata + ["labels"])
    for key, value in labels.items():
        if key not in present:
            journal.set(metadata + ["labels", key], value)


def _label_values(obj: Any, kind: str, ms: ModelService) -> dict[str, str]:
    """The labels the function adds where they are absent. The model label takes the
    value the workload already has elsewhere (its template's, say), so that one workload
    does not carry two names for its model."""
    model = ms.sanitized_model_name
    for metadata in [["metadata"]] + [t + ["metadata"] for t in all_pod_templates(kind, obj)]:
        labels = get(obj, metadata + ["labels"])
        if isinstance(labels, dict) and isinstance(labels.get(MODEL_LABEL), str):
            model = labels[MODEL_LABEL]
            break
    return {SERVING_LABEL: "true", MODEL_LABEL: model}


def _selector_breaks(obj: Any, kind: str) -> list[str]:
    """The template labels the selector no longer matches on, or [] if it matches."""
    if kind not in SELECTOR_KINDS:
        return []
    selector = get(obj, ["spec", "selector"])
    labels = get(obj, ["spec", "template", "metadata", "labels"])
    labels = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
    if selector_matches(selector, labels):
        return []
    keys = [str(k) for k in (selector.get("matchLabels") or {})]
    keys += [
        str(e.get("key")) for e in selector.get("matchExpressions") or [] if isinstance(e, dict)
    ]
    return [k for k in keys if not selector_matches(_only(selector, k), labels)]


def _only(selector: dict[str, Any], key: str) -> dict[str, Any]:
    """The part of a selector about one label key."""
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    return {
        "matchLabels": {k: v for k, v in match_labels.items() if str(k) == key},
        "matchExpressions": [e for e in expressions if isinstance(e, dict) and e.get("key") == key],
    }


def previous_record(obj: Any) -> list[dict[str, Any]] | None:
    """The ops an earlier run recorded on this workload, removed from it."""
    annotations = get(obj, ["metadata", "annotations"])
    if not isinstance(annotations, dict) or RECORD_ANNOTATION not in annotations:
        return None
    raw = annotations.pop(RECORD_ANNOTATION)
    try:
        record = json.loads(str(raw))
        ops = record["ops"]
        if record.get("v") != RECORD_VERSION or not isinstance(ops, list):
            raise ValueError
        return [op for op in ops if isinstance(op, dict)]
    except (ValueError, KeyError, TypeError):
        raise ApplyError(
            f"annotation {RECORD_ANNOTATION} is not a record this version wrote;"
            " restore the workload from its source or delete the annotation",
            f"metadata.annotations.{RECORD_ANNOTATION}",
        ) from None


def apply_roles(
    obj: Any,
    kind: str,
    workload: str,
    ms: ModelService,
    roles: list[tuple[str, RenderedRole]],
    render: Render,
) -> None:
    """Apply roles of one ModelService to one workload (a ruamel mapping, edited in
    place): one role, or several for a DisaggregatedSet. Raises ApplyError or ShapeError;
    the caller then drops the object."""
    matched = not _selector_breaks(obj, kind)
    ops = previous_record(obj)
    if ops:
        undo(obj, ops)
    journal = Journal(obj)
    sites = []
    for role_name, rendered in roles:
        templates = pod_templates(kind, obj, role_name)
        if not templates:
            if holds_roles(kind) and role_name not in role_names(kind, obj):
                raise ApplyError(
                    f"{workload} has no role {role_name!r}"
                    f" (its roles: {', '.join(role_names(kind, obj)) or 'none'})",
                    "spec.roles",
                )
            raise ApplyError(f"{workload} has no pod template", dotted(role_spec(kind, role_name)))
        sites.append((role_name, rendered, templates))
    for _, _, templates in sites:
        for template in templates:
            _render_workload(journal, template, render)
    labels = _label_values(obj, kind, ms)
    # A DisaggregatedSet holds several roles: the role label goes on each role's templates.
    workload_labels = labels if holds_roles(kind) else {**labels, ROLE_LABEL: roles[0][0]}
    for role_name, rendered, templates in sites:
        role = rendered.role
        if role.replicas is not None and not ms.spec.decoupleScaling:
            journal.set(role_spec(kind, role_name) + ["replicas"], role.replicas)
        if role_name == roles[0][0]:
            _labels(journal, ["metadata"], workload_labels)
        for template in templates:
            journal.ensure(template + ["spec"], {})
            journal.ensure(template + ["spec", "volumes"], [])
            journal.set(
                template + ["spec", "volumes", ["name", VOLUME_NAME]],
                {"name": VOLUME_NAME, **ms.source.volume()},
            )
        for list_name, specs in (
            ("initContainers", rendered.init_containers),
            ("containers", rendered.containers),
        ):
            for index, spec in enumerate(specs):
                where = f"spec.{role_name}.{list_name}[{index}]"
                _merge_containers(journal, templates, list_name, spec, ms.source, where, workload)
        for template in templates:
            _accelerators(journal, template, role)
            _labels(journal, template + ["metadata"], {**labels, ROLE_LABEL: role_name})
    broken = _selector_breaks(obj, kind)
    if matched and broken:
        raise ApplyError(
            f"{workload}: its selector would no longer match its pod template's labels"
            f" ({', '.join(broken)}); the function never changes a selector or a label value,"
            " so change the selector or the label in the source",
            "spec.selector",
        )
    if not journal.ops:
        return
    journal.ensure(["metadata", "annotations"], {})
    record: dict[str, Any] = {
        "v": RECORD_VERSION,
        "by": f"{ms.namespace}/{ms.name}",
        "role": ",".join(role for role, _ in roles),
        "ops": journal.ops,
    }
    annotations = get(obj, ["metadata", "annotations"])
    annotations[RECORD_ANNOTATION] = json.dumps(record, separators=(",", ":"))
