"""The model-artifacts function: ModelServices and their workloads in, edits and results out.

It knows nothing of stdin or stdout: `krmfn.cli` reads the document and writes it back.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from krmfn.apply import ApplyError, RenderedRole, apply_roles, dotted, literal_secrets
from krmfn.config import Config
from krmfn.gotemplate import TemplateError, has_actions, render
from krmfn.journal import ShapeError
from krmfn.kinds import is_local_config, is_model_service
from krmfn.krm import Document, InputError, Item, Result, Severity
from krmfn.krm.document import check_size
from krmfn.krm.results import ResourceRef
from krmfn.modelservice import API_VERSION, KIND, ContainerSpec, Identity, ModelService, load
from krmfn.names import is_secret_name
from krmfn.selectors import PREVIOUS_NAMES, original_names
from krmfn.targets import Discovery, Target, discover, ms_key, not_found, workload_name


class _Context(NamedTuple):
    doc: Document
    results: list[Result]

    def result(
        self, about: Item | ResourceRef, severity: Severity, message: str, path: str = ""
    ) -> None:
        """A result about one item, with the file kpt read it from, or about the
        functionConfig (which has no file)."""
        if isinstance(about, ResourceRef):
            self.results.append(Result(message, severity, about, path))
            return
        file_path, index = about.file
        self.results.append(Result(message, severity, about.ref, path, file_path, index))


def _render_text(
    ms: ModelService, text: str, context: str, where: str, secret: bool = False
) -> str:
    try:
        rendered: str = render(text, ms.variables(), ms.ports())
        return rendered
    except TemplateError as exc:
        # Template messages quote the action; in a credential that could be the credential.
        problem = (
            "the template in a value named like a credential does not render"
            " (the details are not shown, so that the value is not)"
            if secret
            else exc.message
        )
        raise ApplyError(f"{context}: {problem}", where) from None


def _render_list(ms: ModelService, values: list[str] | None, context: str, where: str) -> Any:
    if values is None:
        return None
    return [
        _render_text(ms, v, context, f"{where}[{i}]") if has_actions(v) else v
        for i, v in enumerate(values)
    ]


def _render_specs(
    ms: ModelService, specs: list[ContainerSpec] | None, where: str
) -> tuple[ContainerSpec, ...]:
    out = []
    for index, spec in enumerate(specs or []):
        at = f"{where}[{index}]"
        context = f"container {spec.name!r}"
        update: dict[str, Any] = {
            "command": _render_list(ms, spec.command, context, f"{at}.command"),
            "args": _render_list(ms, spec.args, context, f"{at}.args"),
        }
        if spec.env:
            update["env"] = [
                var.model_copy(
                    update={
                        "value": _render_text(
                            ms,
                            var.value,
                            context,
                            f"{at}.env[{i}].value",
                            is_secret_name(var.name),
                        )
                    }
                )
                if var.value is not None and has_actions(var.value)
                else var
                for i, var in enumerate(spec.env)
            ]
        out.append(spec.model_copy(update=update))
    return tuple(out)


def _rendered_role(ms: ModelService, role_name: str) -> RenderedRole:
    role = ms.role(role_name)
    assert role is not None  # only the roles the ModelService has are rendered
    return RenderedRole(
        role,
        _render_specs(ms, role.containers, f"spec.{role_name}.containers"),
        _render_specs(ms, role.initContainers, f"spec.{role_name}.initContainers"),
    )


def _apply_service(
    ctx: _Context, origin: Item | ResourceRef, ms: ModelService, targets: list[Target]
) -> None:
    from krmfn.krm.roundtrip import RoundTrip, to_plain

    msname = ms.ref
    try:
        roles = {r: _rendered_role(ms, r) for r in ms.roles}
    except ApplyError as exc:
        ctx.result(origin, Severity.ERROR, f"{msname} {exc.message}", exc.path)
        return
    edits: list[tuple[Item, str]] = []
    secrets: list[tuple[Item, str, str, str]] = []
    lost: list[Item] = []
    for target in targets:
        rendered = [(r, roles[r]) for r in target.roles]
        workload = workload_name(target.item)

        def render(
            text: str, where: str, container: str, secret: bool, workload: str = workload
        ) -> str:
            context = f"{workload} container {container!r}"
            return _render_text(ms, text, context, where, secret)

        try:
            check_size(target.item.node)
            view = RoundTrip(target.item)
            before = to_plain(view.data)
            apply_roles(view.data, target.item.kind, workload, ms, rendered, render)
            if to_plain(view.data) != before:
                text, without_comments = view.text()
                edits.append((target.item, text))
                if without_comments:
                    lost.append(target.item)
            secrets += [
                (target.item, *found) for found in literal_secrets(view.data, target.item.kind)
            ]
        except ApplyError as exc:
            ctx.result(target.item, Severity.ERROR, f"{msname}: {exc.message}", exc.path)
            return
        except ShapeError as exc:
            where = dotted(exc.path)
            message = f"{msname}: {workload}: {where} {exc.message}"
            ctx.result(target.item, Severity.ERROR, message, where)
            return
        except InputError as exc:
            message = f"{msname}: {workload} cannot be edited: {exc.message}"
            ctx.result(target.item, Severity.ERROR, message)
            return
        except Exception as exc:  # a workload ruamel cannot read: say so, touch nothing
            # ruamel's errors carry the problem apart from the context it was found in.
            lines = str(exc).strip().splitlines()
            problem = getattr(exc, "problem", None) or (lines[0] if lines else type(exc).__name__)
            ctx.result(
                target.item,
                Severity.ERROR,
                f"{msname}: {workload} cannot be edited: {problem}",
            )
            return
    for target_item, text in edits:
        ctx.doc.replace(target_item, text)
    for target_item in lost:
        ctx.result(
            target_item,
            Severity.WARNING,
            "its comments could not be kept: written back with them, it would not be valid"
            " YAML (a comment after a flow collection at the end of a list, say)",
        )
    for target_item, path, container, name in secrets:
        ctx.result(
            target_item,
            Severity.WARNING,
            f"container {container!r} sets {name} to a literal value; keep it in a Secret"
            " (for the Hugging Face token: modelArtifacts.authSecretName)",
            path,
        )
    applied = ", ".join(
        f"{workload_name(t.item)} ({', '.join(t.roles)}, by {t.how})" for t in targets
    )
    ctx.result(
        origin,
        Severity.INFO,
        f"applied {ms.spec.modelArtifacts.uri} ({ms.source.describe()}) to {applied}",
    )


def _load_items(ctx: _Context, config: Config) -> list[tuple[Item | ResourceRef, ModelService]]:
    services: list[tuple[Item | ResourceRef, ModelService]] = []
    for item in ctx.doc.items:
        if not is_model_service(item):
            continue
        if not item.name:
            ctx.result(item, Severity.ERROR, "is required", "metadata.name")
            continue
        try:
            data = item.construct()
        except InputError as exc:
            ctx.result(item, Severity.ERROR, f"cannot be read: {exc.message}")
            continue
        original = original_names(item.annotations, item.name, PREVIOUS_NAMES)[-1]
        who = Identity(item.name, item.namespace, original)
        loaded = load(who, data, config)
        if isinstance(loaded, ModelService):
            services.append((item, loaded))
            continue
        for problem in loaded:
            ctx.result(item, Severity.ERROR, problem.message, problem.path)
    return services


def _load_config_service(
    ctx: _Context, data: dict[str, Any], config: Config
) -> tuple[ResourceRef, ModelService] | None:
    """The ModelService given as the functionConfig (kustomize's `transformers:` entry, kpt's
    `--fn-config`), applied like one in the items."""
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    name = str((metadata or {}).get("name") or "")
    namespace = str((metadata or {}).get("namespace") or "")
    ref = ResourceRef(API_VERSION, KIND, name, namespace)
    if not name:
        ctx.result(ref, Severity.ERROR, "is required", "metadata.name")
        return None
    loaded = load(Identity(name, namespace, from_config=True), data, config)
    if isinstance(loaded, ModelService):
        return ref, loaded
    for problem in loaded:
        ctx.result(ref, Severity.ERROR, problem.message, problem.path)
    return None


def process(doc: Document, config: Config, config_service: Any = None) -> list[Result]:
    """Apply every ModelService of the list, and the one given as the functionConfig."""
    ctx = _Context(doc, [])
    services = _load_items(ctx, config)
    if config_service is not None:
        given = _load_config_service(ctx, config_service, config)
        # kpt passes a package's config file in the items too: one ModelService, once.
        if given is not None and all(ms_key(ms) != ms_key(given[1]) for _, ms in services):
            services.append(given)
    found: Discovery = discover(doc.items, [ms for _, ms in services], config.kinds)
    severity = Severity.ERROR if config.strict else Severity.WARNING
    for origin, ms in services:
        key = ms_key(ms)
        conflicts = found.conflicts.get(key)
        if conflicts:
            for message in conflicts:
                ctx.result(origin, Severity.ERROR, message)
            continue
        targets = found.targets[key]
        if not ms.roles:
            ctx.result(
                origin, severity, "has neither a decode nor a prefill role: nothing to apply"
            )
            continue
        applied = {r for t in targets for r in t.roles}
        # A role that names its target and finds nothing is said even when others apply.
        missing = ms.roles if not targets else [r for r in ms.targets if r not in applied]
        if missing:
            ctx.result(origin, severity, not_found(ms, missing, doc.items, config.kinds))
        if not targets or (missing and config.strict):
            continue
        for warning in ms.source.warnings():
            ctx.result(origin, Severity.WARNING, warning, "spec.modelArtifacts.uri")
        _apply_service(ctx, origin, ms, targets)
    if doc.mode == "stream":
        # As kustomize does with a ResourceList: local-config objects are the function's
        # input, never applied. A stream has no other way to keep them out of the cluster.
        local = [i for i in doc.items if is_local_config(i)]
        if local and len(local) == sum(1 for i in doc.items if i.is_mapping):
            # Helm 4 takes an empty output for an error anyway: say why instead.
            message = "every document is local-config: nothing would be left to apply"
            ctx.results.append(Result(message, Severity.ERROR))
        else:
            for item in local:
                doc.drop(item)
    return ctx.results
