"""Fields of a ModelService that nothing reads: a typo (`authSecretname`,
`mountModelVolumes`) would otherwise be dropped without a word, since the ModelService is
local config that no API server validates.

The llm-d CRD's own fields that krmfn does not read (`baseConfigMapRef`, `parallelism`,
...) are known, and stay quiet. Anything else is said with its field path and the nearest
known name.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel

from krmfn.config import Config
from krmfn.kinds import ROLES
from krmfn.modelservice import ContainerSpec, ModelArtifacts, Role, Spec
from krmfn.paths import format_path

# Fields of llm-d's ModelService CRD (llm-d-model-service, api/v1alpha1, in its versions)
# that krmfn leaves to the controller: known, not read.
_LLM_D_ONLY: dict[type[BaseModel], frozenset[str]] = {
    Spec: frozenset({"baseConfigMapRef", "endpointPicker", "inferencePool", "inferenceModel"}),
    Role: frozenset({"parallelism", "ephemeralContainers"}),
}
# Where a field of another part belongs, for a field given in the wrong place.
_ELSEWHERE: tuple[tuple[str, Iterable[str]], ...] = (
    ("a field of the function config (docs/config.md)", Config.model_fields),
    ("a field of spec.modelArtifacts", ModelArtifacts.model_fields),
    ("a field of a role (spec.decode, spec.prefill)", Role.model_fields),
    ("a field of a role's containers", ContainerSpec.model_fields),
)


def _known(model: type[BaseModel]) -> list[str]:
    return [*model.model_fields, *sorted(_LLM_D_ONLY.get(model, ()))]


def _hint(field: str, model: type[BaseModel]) -> str:
    known = _known(model)
    by_case = {name.lower(): name for name in known}
    close = by_case.get(field.lower()) or next(
        iter(difflib.get_close_matches(field, known, n=1, cutoff=0.75)), None
    )
    if close:
        return f"; did you mean {close}?"
    for owner, fields in _ELSEWHERE:
        match = {name.lower(): name for name in fields}.get(field.lower())
        if match and match not in known:
            return f"; {match} is {owner}"
    return f"; the fields here are {', '.join(known)}"


def _extras(model: BaseModel, path: tuple[Any, ...]) -> Iterator[tuple[str, str]]:
    quiet = _LLM_D_ONLY.get(type(model), frozenset())
    for field in model.model_extra or {}:
        if field in quiet:
            continue
        yield (
            f"{field} is not a field krmfn or llm-d reads: it has no effect"
            f"{_hint(field, type(model))}",
            format_path((*path, field)),
        )


def unknown_fields(spec: Spec) -> list[tuple[str, str]]:
    """(message, field path) of every field of the spec, its modelArtifacts, roles and
    their containers that nothing reads."""
    found = [*_extras(spec, ("spec",))]
    found += _extras(spec.modelArtifacts, ("spec", "modelArtifacts"))
    for role_name in ROLES:
        role: Role | None = getattr(spec, role_name)
        if role is None:
            continue
        found += _extras(role, ("spec", role_name))
        for list_name in ("initContainers", "containers"):
            for index, container in enumerate(getattr(role, list_name) or []):
                found += _extras(container, ("spec", role_name, list_name, index))
    return found
