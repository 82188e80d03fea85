"""Where Go templates meet fields: a ModelService's ContainerSpecs and its workloads'
containers, rendered alike.

The fields rendered are the containers' and init containers' `command`, `args` and
`env[].value`, in the ModelService and in its target workloads; nothing else (other
resources hold `{{ }}` of their own). A template that does not render is a FieldError at
its field, whose message never quotes a value named like a credential.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from krmfn.gotemplate import TemplateError, has_actions, render
from krmfn.journal import Journal, get, indexed
from krmfn.krm.errors import FieldError
from krmfn.modelservice import ContainerSpec, ModelService, Role
from krmfn.names import is_secret_name
from krmfn.paths import Match, Part, format_path
from krmfn.workloads import PodTemplate

CONTAINER_LISTS = ("initContainers", "containers")
_LISTS = ("command", "args")


class RenderedRole(NamedTuple):
    """A role's ContainerSpecs with their template actions already rendered."""

    role: Role
    containers: tuple[ContainerSpec, ...]
    init_containers: tuple[ContainerSpec, ...]


def containers(obj: Any, template: PodTemplate) -> Iterator[tuple[str, int, Any]]:
    """(list name, index, container) of a pod template's containers and init containers."""
    for list_name in CONTAINER_LISTS:
        found = get(obj, (*template.pod, list_name))
        if isinstance(found, list):
            for index, container in enumerate(found):
                if isinstance(container, dict):
                    yield list_name, index, container


class Renderer:
    """Renders the fields of one ModelService and of its workloads with its variables."""

    def __init__(self, ms: ModelService) -> None:
        self.ms = ms
        self._variables = ms.variables()
        self._ports = ms.ports()

    def text(self, text: str, where: str, context: str, secret: bool = False) -> str:
        """One string; `context` (a container, in a workload) starts the error message."""
        try:
            return render(text, self._variables, self._ports)
        except TemplateError as exc:
            # Template messages quote the action; in a credential that could be the credential.
            problem = (
                "the template in a value named like a credential does not render"
                " (the details are not shown, so that the value is not)"
                if secret
                else exc.message
            )
            raise FieldError(f"{context}: {problem}", where) from None

    def role(self, role_name: str) -> RenderedRole:
        role = self.ms.role(role_name)
        assert role is not None  # only the roles the ModelService has are rendered
        return RenderedRole(
            role,
            self._specs(role.containers, f"spec.{role_name}.containers"),
            self._specs(role.initContainers, f"spec.{role_name}.initContainers"),
        )

    def _specs(self, specs: list[ContainerSpec] | None, where: str) -> tuple[ContainerSpec, ...]:
        out = []
        for index, spec in enumerate(specs or []):
            at, context = f"{where}[{index}]", f"container {spec.name!r}"
            update: dict[str, Any] = {
                field: [
                    self.text(v, f"{at}.{field}[{i}]", context) if has_actions(v) else v
                    for i, v in enumerate(values)
                ]
                for field in _LISTS
                if (values := getattr(spec, field)) is not None
            }
            if spec.env:
                update["env"] = [
                    var.model_copy(
                        update={
                            "value": self.text(
                                var.value, f"{at}.env[{i}].value", context, is_secret_name(var.name)
                            )
                        }
                    )
                    if var.value is not None and has_actions(var.value)
                    else var
                    for i, var in enumerate(spec.env)
                ]
            out.append(spec.model_copy(update=update))
        return tuple(out)

    def workload(self, journal: Journal, template: PodTemplate, workload: str) -> None:
        """The template actions in a workload's own containers, rendered in place. A
        container and an env var are named in the record by their name where it is unique:
        an index would point elsewhere once another entry is taken back (a literal token
        that a Secret reference replaced can only be removed)."""
        for list_name, index, container in containers(journal.root, template):
            listed = get(journal.root, (*template.pod, list_name))
            base = (*template.pod, list_name, _by_name(listed, index))
            context = f"{workload} container {str(container.get('name', ''))!r}"
            for field in _LISTS:
                values = container.get(field)
                for i, value in enumerate(values if isinstance(values, list) else []):
                    if isinstance(value, str) and has_actions(value):
                        path = (*base, field, i)
                        journal.set(
                            path,
                            self.text(value, format_path(indexed(journal.root, path)), context),
                        )
            env = container.get("env")
            for i, var in enumerate(env if isinstance(env, list) else []):
                value = var.get("value") if isinstance(var, dict) else None
                if isinstance(value, str) and has_actions(value):
                    path = (*base, "env", _by_name(env, i), "value")
                    secret = is_secret_name(str(var.get("name", "")))
                    journal.set(
                        path,
                        self.text(value, format_path(indexed(journal.root, path)), context, secret),
                    )


def _by_name(entries: Any, index: int) -> Part:
    """The entry at `index` of a list of named entries: by its name when no other
    entry has it, else by its index."""
    name = entries[index].get("name")
    names = [e.get("name") for e in entries if isinstance(e, dict)]
    return Match("name", name) if isinstance(name, str) and names.count(name) == 1 else index
