"""Applying a ModelService's roles to one target workload: take back what an earlier run
recorded, apply, check the selector still selects, record."""

from __future__ import annotations

from typing import Any, NamedTuple

from krmfn import extras, prefetch, record
from krmfn.commands import runs_shell, words
from krmfn.journal import ABSENT, Journal, get, indexed, undo
from krmfn.kinds import MODEL_LABEL, ROLE_LABEL, SERVING_LABEL, SERVING_LABELS
from krmfn.krm.errors import FieldError
from krmfn.model_checks import stale_model_label, unloadable_model
from krmfn.modelservice import ContainerSpec, ModelService, Role
from krmfn.paths import Match, Path, format_path
from krmfn.render import RenderedRole, Renderer, containers
from krmfn.selectors import unmatched
from krmfn.sources import VOLUME_NAME, Source
from krmfn.workloads import (
    SELECTOR_KINDS,
    PodTemplate,
    all_pod_templates,
    holds_roles,
    label_paths,
    pod_templates,
    role_names,
    role_spec,
    roles_path,
    writes_replicas,
)

ANNOTATIONS: Path = ("metadata", "annotations")
# (message, field path) of what applying went on with but the user should hear about.
Warnings = list[tuple[str, str]]


def _env_entry(var: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": var.name}
    if var.value is not None:
        entry["value"] = var.value
    if var.valueFrom is not None:
        entry["valueFrom"] = var.valueFrom
    return entry


def _container(template: PodTemplate, list_name: str, name: str) -> Path:
    return (*template.pod, list_name, Match("name", name))


def _merge_containers(
    journal: Journal,
    templates: list[PodTemplate],
    list_name: str,
    spec: ContainerSpec,
    ms: ModelService,
    where: str,
    workload: str,
    warnings: Warnings,
) -> None:
    """A ContainerSpec applies to each pod template with a container of its name; when
    none has one, it is added to every template if it has an image to run."""
    paths = [_container(t, list_name, spec.name) for t in templates]
    having = [p for p in paths if journal.get(p) is not ABSENT]
    if not having:
        if not spec.image:
            which = "none of the pod templates of " if len(templates) > 1 else ""
            raise FieldError(
                f"{where} names container {spec.name!r}, which {which}{workload} does not"
                " have; give it an image to add it, or fix the name",
                where,
            )
        for template, path in zip(templates, paths, strict=True):
            journal.ensure((*template.pod, list_name), [])
            journal.set(path, {"name": spec.name, "image": spec.image})
        having = paths
    for path in having:
        _merge_container(journal, path, spec, ms, (workload, where), warnings)


def _merge_container(
    journal: Journal,
    path: Path,
    spec: ContainerSpec,
    ms: ModelService,
    names: tuple[str, str],
    warnings: Warnings,
) -> None:
    workload, where = names
    source = ms.source
    if spec.image:
        journal.set((*path, "image"), spec.image)
    if spec.command:
        journal.set((*path, "command"), list(spec.command))
    command = journal.get((*path, "command"))
    own = journal.get((*path, "args"))
    own_args = [str(a) for a in own] if isinstance(own, list) else []
    args = list(spec.args or [])
    told: list[str] = []  # what a marked container's vLLM is told, once the args are in
    if runs_shell(command):
        shell = " ".join(map(str, command))
        if args:
            raise FieldError(
                f"container {spec.name!r} runs a shell script ({shell}): args given here"
                " would go in front of the script and replace it; write the model into the"
                " script instead, as {{ .HFModelName }} or {{ .MountedModelPath }} (the"
                " workload's own args are rendered), and give no args here",
                f"{where}.args",
            )
        if spec.mountModelVolume:
            script = (*path, "args") if own_args else (*path, "command")
            told = words([*map(str, command[1:]), *own_args])
            at = format_path(indexed(journal.root, script))
            context = f"{workload} container {spec.name!r}"
            for arg in source.args(told):
                warnings.append(
                    (
                        f"{context} runs a shell script, which krmfn"
                        f" does not edit: add {arg} to the vllm command in it",
                        at,
                    )
                )
            warnings += extras.shell_warnings(ms, told, context, at)
    elif spec.mountModelVolume:
        args += source.args([*args, *own_args])
        at = format_path(indexed(journal.root, (*path, "args")))
        args += extras.lora_args(ms, [*args, *own_args], at)
        told = [*args, *own_args]
    journal.prefix((*path, "args"), args)
    explicit_env = set()
    for var in spec.env or []:
        explicit_env.add(var.name)
        journal.ensure((*path, "env"), [])
        journal.set((*path, "env", Match("name", var.name)), _env_entry(var))
    for env_from in spec.envFrom or []:
        journal.ensure((*path, "envFrom"), [])
        journal.set((*path, "envFrom", Match("", env_from)), env_from)
    if spec.resources is not None:
        for section in ("limits", "requests"):
            for key, quantity in (getattr(spec.resources, section) or {}).items():
                journal.ensure((*path, "resources"), {})
                journal.ensure((*path, "resources", section), {})
                journal.set((*path, "resources", section, key), quantity)
    if spec.mountModelVolume:
        _mount(journal, path, source, workload, explicit_env)
        extras.container(journal, path, ms, explicit_env)
        warnings += extras.read_only_root_warnings(journal, path, ms, told)


def _mount(
    journal: Journal, path: Path, source: Source, workload: str, explicit_env: set[str]
) -> None:
    _mount_volume(journal, path, source, workload)
    credentials = source.credential_volume()
    if credentials is not None:
        journal.ensure((*path, "volumeMounts"), [])
        mount = credentials[1]
        journal.set((*path, "volumeMounts", Match("name", mount["name"])), mount)
    for entry in source.env():
        if entry["name"] not in explicit_env:
            journal.ensure((*path, "env"), [])
            journal.set((*path, "env", Match("name", entry["name"])), entry)
    # The container's own cache variables would take the download elsewhere than the
    # volume krmfn made (and sized): they follow the model volume, and come back with
    # the record.
    for entry in source.displaced_env():
        where = (*path, "env", Match("name", entry["name"]))
        if entry["name"] not in explicit_env and journal.get(where) is not ABSENT:
            journal.set(where, entry)


def _mount_volume(journal: Journal, path: Path, source: Source, workload: str) -> None:
    root = source.options.mount_root
    extras.check_mount_path(journal, path, root, VOLUME_NAME, "the model volume")
    journal.ensure((*path, "volumeMounts"), [])
    journal.set((*path, "volumeMounts", Match("name", VOLUME_NAME)), source.mount())


def _first_marked(journal: Journal, template: PodTemplate, rendered: RenderedRole) -> Path | None:
    """The template's first container (then init container) the role marks."""
    for list_name, specs in (
        ("containers", rendered.containers),
        ("initContainers", rendered.init_containers),
    ):
        for spec in specs:
            path = _container(template, list_name, spec.name)
            if spec.mountModelVolume and journal.get(path) is not ABSENT:
                return path
    return None


def _unloadable(
    journal: Journal, template: PodTemplate, rendered: RenderedRole, ms: ModelService, workload: str
) -> Warnings:
    """A marked container's vLLM model argument that the source cannot serve."""
    found = []
    for list_name, specs in (
        ("containers", rendered.containers),
        ("initContainers", rendered.init_containers),
    ):
        for spec in specs:
            path = _container(template, list_name, spec.name)
            if spec.mountModelVolume and journal.get(path) is not ABSENT:
                problem = unloadable_model(journal.root, path, ms, workload)
                found += [problem] if problem is not None else []
    return found


def _ephemeral_storage(journal: Journal, container: Path, size: str | int | float) -> None:
    """Request the node disk an emptyDir of `size` takes, unless the container requests
    some of its own."""
    requests = (*container, "resources", "requests")
    if journal.get((*requests, "ephemeral-storage")) is not ABSENT:
        return
    journal.ensure((*container, "resources"), {})
    journal.ensure(requests, {})
    journal.set((*requests, "ephemeral-storage"), size)


def _accelerators(journal: Journal, template: PodTemplate, role: Role) -> None:
    accel = role.acceleratorTypes
    if accel is None:
        return
    expression = {"key": accel.labelKey, "operator": "In", "values": list(accel.labelValues)}
    affinity = (*template.pod, "affinity")
    required = (*affinity, "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution")
    terms = journal.get((*required, "nodeSelectorTerms"))
    if not isinstance(terms, list) or not terms:
        journal.ensure(affinity, {})
        journal.ensure((*affinity, "nodeAffinity"), {})
        journal.ensure(required, {})
        journal.set((*required, "nodeSelectorTerms"), [{"matchExpressions": [expression]}])
        return
    # Terms are ORed: the accelerator requirement must hold in each of them.
    for index in range(len(terms)):
        expressions = (*required, "nodeSelectorTerms", index, "matchExpressions")
        journal.ensure(expressions, [])
        journal.set((*expressions, Match("key", accel.labelKey)), expression)


def _labels(journal: Journal, where: Path, labels: dict[str, str]) -> None:
    """Add the labels the workload does not have; a value it has is never changed:
    selectors, InferencePools and Services select on it."""
    journal.ensure(where[:-1], {})
    journal.merge(where, labels)


def _label_values(obj: Any, kind: str, ms: ModelService) -> dict[str, str]:
    """The labels the function adds where they are absent. The model label takes the
    value the workload already has elsewhere (its template's, say), so that one workload
    does not carry two names for its model; the serving label, under either of its keys
    anywhere on the workload, is not added at all (one workload, one spelling)."""
    model: str | None = None
    serving = False
    for where in label_paths(kind, obj):
        labels = get(obj, where)
        if not isinstance(labels, dict):
            continue
        if model is None and isinstance(labels.get(MODEL_LABEL), str):
            model = labels[MODEL_LABEL]
        serving = serving or any(key in labels for key in SERVING_LABELS)
    added = {} if serving else {SERVING_LABEL: "true"}
    return {**added, MODEL_LABEL: ms.sanitized_model_name if model is None else model}


def _selector_breaks(obj: Any, kind: str) -> list[str]:
    """The label keys the selector no longer matches its template on, or [] if it does."""
    if kind not in SELECTOR_KINDS:
        return []
    labels = get(obj, ("spec", "template", "metadata", "labels"))
    labels = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
    return unmatched(get(obj, ("spec", "selector")), labels)


def _duplicate_containers(obj: Any, kind: str) -> list[tuple[PodTemplate, str]]:
    """(pod template, name) of each container name a pod would have twice: containers and
    init containers share one namespace of names."""
    found = []
    for template in all_pod_templates(kind, obj):
        names = [str(c.get("name")) for _, _, c in containers(obj, template)]
        found += [(template, n) for n in sorted({n for n in names if names.count(n) > 1})]
    return found


def take_back(obj: Any) -> dict[str, int]:
    """Take back what an earlier run recorded on this workload, and its record. Returns
    where credentials that could only be removed were (see `Journal`)."""
    annotations = get(obj, ANNOTATIONS)
    if not isinstance(annotations, dict) or record.ANNOTATION not in annotations:
        return {}
    previous = record.read(str(annotations.pop(record.ANNOTATION)))
    # The annotations the record made came last: they go first, so that the ops find the
    # collections they created as they left them (a `metadata` that held only the labels
    # goes with them).
    if previous.new_annotations and not annotations:
        del obj["metadata"]["annotations"]
    return undo(obj, previous.ops)


def _sites(obj: Any, kind: str, workload: str, roles: list[str]) -> list[list[PodTemplate]]:
    """Each role's pod templates; a role without any is an error."""
    sites = []
    for role_name in roles:
        templates = pod_templates(kind, obj, role_name)
        if not templates and holds_roles(kind) and role_name not in role_names(kind, obj):
            raise FieldError(
                f"{workload} has no role {role_name!r}"
                f" (its roles: {', '.join(role_names(kind, obj)) or 'none'})",
                format_path(roles_path(kind)),
            )
        if not templates:
            where = format_path((*role_spec(kind, role_name), "template"))
            raise FieldError(f"{workload} has no pod template", where)
        sites.append(templates)
    return sites


class Applied(NamedTuple):
    image: str  # of the first container the ModelService marks ("" if none)
    warnings: Warnings
    notes: Warnings  # what it left alone on purpose (info)


def apply_roles(
    obj: Any,
    kind: str,
    workload: str,
    renderer: Renderer,
    roles: list[tuple[str, RenderedRole]],
    scaled_by: dict[str, str],
) -> Applied:
    """Apply roles of one ModelService to one workload (a ruamel mapping, edited in
    place): one role, or several for a workload that holds roles. `scaled_by` says, by
    role, what owns its replicas (krmfn.scalers). Returns the image of the first
    container the ModelService marks, which a prefetch Job can run, what to warn about
    and what was left alone. Raises FieldError; the caller then drops the object."""
    ms = renderer.ms
    warnings: Warnings = []
    notes: Warnings = []
    matched = not _selector_breaks(obj, kind)
    # Names a pod of the input already holds twice are the user's to fix; a new one is krmfn's.
    duplicated = set(_duplicate_containers(obj, kind))
    journal = Journal(obj, workload, redacted=take_back(obj))
    stale = stale_model_label(obj, kind, ms, workload)
    if stale is not None:
        warnings.append(stale)
    sites = _sites(obj, kind, workload, [name for name, _ in roles])
    for templates in sites:
        for template in templates:
            renderer.workload(journal, template, workload)
    labels = _label_values(obj, kind, ms)
    # A workload holding several roles (a DisaggregatedSet, a PodCliqueSet): the role label
    # goes on each role's templates only.
    own = labels if holds_roles(kind) else {**labels, ROLE_LABEL: roles[0][0]}
    _labels(journal, ("metadata", "labels"), own)
    images = []
    for (role_name, rendered), templates in zip(roles, sites, strict=True):
        role = rendered.role
        if role.replicas is not None and not ms.spec.decoupleScaling:
            _replicas(journal, kind, (role_name, role.replicas), scaled_by, (warnings, notes))
        _volumes(journal, templates, ms)
        for list_name, specs in (
            ("initContainers", rendered.init_containers),
            ("containers", rendered.containers),
        ):
            for index, spec in enumerate(specs):
                where = f"spec.{role_name}.{list_name}[{index}]"
                _merge_containers(
                    journal, templates, list_name, spec, ms, where, workload, warnings
                )
        for template in templates:
            images += _model_pod(journal, template, rendered, ms, workload)
            warnings += _unloadable(journal, template, rendered, ms, workload)
            _accelerators(journal, template, role)
            _labels(journal, template.labels, {**labels, ROLE_LABEL: role_name})
    broken = _selector_breaks(obj, kind)
    if matched and broken:
        raise FieldError(
            f"{workload}: its selector would no longer match its pod template's labels"
            f" ({', '.join(broken)}); the function never changes a selector or a label value,"
            " so change the selector or the label in the source",
            "spec.selector",
        )
    duplicates = [d for d in _duplicate_containers(obj, kind) if d not in duplicated]
    if duplicates:
        template, name = duplicates[0]
        raise FieldError(
            f"{workload}: a pod would have two containers named {name!r} (containers and"
            " initContainers share their names); rename the workload's own or the"
            " ModelService's"
            + (
                " (krmfn's init container waits for the prefetch Job)"
                if name == prefetch.WAITER
                else ""
            ),
            format_path(template.pod),
        )
    if journal.ops:
        _record(journal, ms, [name for name, _ in roles])
    return Applied(images[0] if images else "", warnings, notes)


def _replicas(
    journal: Journal,
    kind: str,
    role: tuple[str, int],
    scaled_by: dict[str, str],
    said: tuple[Warnings, Warnings],
) -> None:
    """A role's replicas, where the workload has one place for them and nothing else
    owns them."""
    (role_name, replicas), (warnings, notes) = role, said
    where = f"spec.{role_name}.replicas"
    if not writes_replicas(kind):
        warnings.append(
            (
                f"{where} ({replicas}) is not written: a {kind}'s cliques each have their"
                " own replicas, which one number cannot be spread over; set them in the"
                " cliques (or set decoupleScaling: true)",
                format_path(roles_path(kind)),
            )
        )
    elif scaled_by.get(role_name):
        path = (*role_spec(kind, role_name), "replicas")
        notes.append(
            (
                f"{where} ({replicas}) is not written: {scaled_by[role_name]}",
                format_path(indexed(journal.root, path)),
            )
        )
    else:
        journal.set((*role_spec(kind, role_name), "replicas"), replicas)


def _volumes(journal: Journal, templates: list[PodTemplate], ms: ModelService) -> None:
    source = ms.source
    named = [{"name": VOLUME_NAME, **source.volume()}]
    credentials = source.credential_volume()
    if credentials is not None:
        named.append(credentials[0])
    if ms.adapters is not None:
        named += ms.adapters.volumes()
    for template in templates:
        for entry in named:
            journal.ensure(template.pod, {})
            journal.ensure((*template.pod, "volumes"), [])
            path = (*template.pod, "volumes", Match("name", entry["name"]))
            journal.set(path, entry)


def _model_pod(
    journal: Journal, template: PodTemplate, rendered: RenderedRole, ms: ModelService, workload: str
) -> list[str]:
    """What the pod as a whole needs for the model, on its first marked container: the
    node disk of the emptyDir, the init containers that wait for a prefetch and download
    adapters (in its image). Returns that container's image ("" if it has none), or
    nothing if no container is marked."""
    marked = _first_marked(journal, template, rendered)
    if marked is None:
        return []
    source = ms.source
    image = journal.get((*marked, "image"))
    image = image if isinstance(image, str) else ""
    size = source.ephemeral_storage()
    if size is not None:
        _ephemeral_storage(journal, marked, size)
    waiter = [prefetch.waiter(source, image)] if source.options.prefetch else []
    first = waiter + extras.init_containers(ms, image)
    if first and not image:
        what = "waits for the prefetch Job" if waiter else "downloads the adapters"
        raise FieldError(
            f"{workload}: its first marked container has no image for the init"
            f" container that {what}",
            format_path((*marked, "image")),
        )
    if first:
        journal.prefix((*template.pod, "initContainers"), first)
    return [image]


def _record(journal: Journal, ms: ModelService, roles: list[str]) -> None:
    obj = journal.root
    new_annotations = journal.get(ANNOTATIONS) is ABSENT
    journal.ensure(ANNOTATIONS, {})
    # Collections created for edits that no op counts would stay behind on take-back.
    assert not journal.unclaimed() or journal.unclaimed() == [ANNOTATIONS]
    text = record.write(record.Record(ms.qualified, tuple(roles), journal.ops, new_annotations))
    get(obj, ANNOTATIONS)[record.ANNOTATION] = record.block(text)
