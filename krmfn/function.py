"""The model-artifacts function: ModelServices and their workloads in, edits and results out.

It knows nothing of stdin or stdout: `krmfn.cli` reads the document and writes it back.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from krmfn.apply import ApplyError, RenderedRole, apply_role, dotted, literal_secrets
from krmfn.config import Config
from krmfn.gotemplate import TemplateError, has_actions, render
from krmfn.journal import ShapeError
from krmfn.kinds import is_local_config, is_model_service
from krmfn.krm import Document, InputError, Item, Result, Severity
from krmfn.krm.document import check_size
from krmfn.modelservice import ROLES, ContainerSpec, ModelService, load
from krmfn.names import is_secret_name
from krmfn.targets import Discovery, Target, discover, looked_for, ms_key


class _Context(NamedTuple):
    doc: Document
    results: list[Result]

    def result(self, item: Item, severity: Severity, message: str, path: str = "") -> None:
        """A result about one item, with the file kpt read it from."""
        file_path, index = item.file
        self.results.append(Result(message, severity, item.ref, path, file_path, index))


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


def _rendered_role(ms: ModelService, role_name: str) -> RenderedRole | None:
    role = ms.role(role_name)
    if role is None:
        return None
    return RenderedRole(
        role,
        _render_specs(ms, role.containers, f"spec.{role_name}.containers"),
        _render_specs(ms, role.initContainers, f"spec.{role_name}.initContainers"),
    )


def _workload_name(item: Item) -> str:
    return f"{item.kind} {item.namespace + '/' if item.namespace else ''}{item.name}"


def _apply_service(ctx: _Context, item: Item, ms: ModelService, targets: list[Target]) -> None:
    from krmfn.krm.roundtrip import RoundTrip, to_plain

    msname = f"ModelService {ms.namespace + '/' if ms.namespace else ''}{ms.name}"
    try:
        roles = {r: _rendered_role(ms, r) for r in ROLES}
    except ApplyError as exc:
        ctx.result(item, Severity.ERROR, f"{msname} {exc.message}", exc.path)
        return
    edits: list[tuple[Item, str]] = []
    secrets: list[tuple[Item, str, str, str]] = []
    lost: list[Item] = []
    for target in targets:
        rendered = roles[target.role]
        assert rendered is not None
        workload = _workload_name(target.item)

        def render(
            text: str, where: str, container: str, secret: bool, workload: str = workload
        ) -> str:
            context = f"{workload} container {container!r}"
            return _render_text(ms, text, context, where, secret)

        try:
            check_size(target.item.node)
            view = RoundTrip(target.item)
            before = to_plain(view.data)
            apply_role(view.data, target.item.kind, workload, ms, target.role, rendered, render)
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
    applied = ", ".join(f"{_workload_name(t.item)} ({t.role})" for t in targets)
    ctx.result(
        item,
        Severity.INFO,
        f"applied {ms.spec.modelArtifacts.uri} ({ms.source.describe()}) to {applied}",
    )


def process(doc: Document, config: Config) -> list[Result]:
    ctx = _Context(doc, [])
    services: list[tuple[Item, ModelService]] = []
    for item in doc.items:
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
        loaded = load(item.name, item.namespace, data, config)
        if isinstance(loaded, ModelService):
            services.append((item, loaded))
            continue
        for problem in loaded:
            ctx.result(item, Severity.ERROR, problem.message, problem.path)
    found: Discovery = discover(doc.items, [ms for _, ms in services], config.kinds)
    for item, ms in services:
        key = ms_key(ms.namespace, ms.name)
        conflicts = found.conflicts.get(key)
        if conflicts:
            for message in conflicts:
                ctx.result(item, Severity.ERROR, message)
            continue
        targets = found.targets[key]
        if not targets:
            severity = Severity.ERROR if config.strict else Severity.WARNING
            ctx.result(
                item, severity, f"no workload found; looked for {looked_for(ms, config.kinds)}"
            )
            continue
        for warning in ms.source.warnings():
            ctx.result(item, Severity.WARNING, warning, "spec.modelArtifacts.uri")
        _apply_service(ctx, item, ms, targets)
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
