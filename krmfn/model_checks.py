"""What a workload says about its model that does not fit the ModelService: a vLLM
model argument the source cannot serve, an `llm-d.ai/model` label that names another
model. Neither is krmfn's to change (the argument is the user's command line, the label
is selected on), so each is said, with its field path.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from krmfn.commands import model_argument
from krmfn.journal import get, indexed
from krmfn.kinds import MODEL_LABEL
from krmfn.krm.errors import FieldError
from krmfn.modelservice import ModelService
from krmfn.names import sanitize
from krmfn.paths import Match, Path, format_path
from krmfn.workloads import SELECTOR_KINDS, label_paths

Finding = tuple[str, str]  # (message, field path)


def unloadable_model(obj: Any, container: Path, ms: ModelService, workload: str) -> Finding | None:
    """The container's vLLM model argument, if the source cannot serve it."""
    found = model_argument(get(obj, (*container, "command")), get(obj, (*container, "args")))
    if found is None:
        return None
    problem = ms.source.unloadable(found.value)
    if not problem:
        return None
    where = format_path(indexed(obj, (*container, found.field, found.position)))
    name = container[-1].value if isinstance(container[-1], Match) else container[-1]
    return f"{workload} container {name!r} gives vLLM the model {found.value}: {problem}", where


def _accepted(ms: ModelService) -> set[str]:
    """The label values that name the ModelService's model (see ModelService.model_labels)."""
    sanitized, last = ms.model_labels
    accepted = {sanitized, last, last.lower()}
    with suppress(FieldError):  # a last segment that sanitises to nothing: the others stand
        accepted.add(sanitize(last))
    return accepted


def _label_places(obj: Any, kind: str) -> list[Path]:
    places = label_paths(kind, obj)
    if kind in SELECTOR_KINDS:
        places.append(("spec", "selector", "matchLabels"))
    return places


def stale_model_label(obj: Any, kind: str, ms: ModelService, workload: str) -> Finding | None:
    """The workload's own `llm-d.ai/model` label, where it names another model."""
    accepted = _accepted(ms)
    stale = [
        (place, str(labels[MODEL_LABEL]))
        for place in _label_places(obj, kind)
        if isinstance(labels := get(obj, place), dict)
        and MODEL_LABEL in labels
        and str(labels[MODEL_LABEL]) not in accepted
    ]
    if not stale:
        return None
    place, value = stale[0]
    sanitized, last = ms.model_labels
    others = f" (and {len(stale) - 1} more)" if len(stale) > 1 else ""
    return (
        f"{workload} is labelled {MODEL_LABEL}={value}{others}, but the ModelService serves"
        f" {ms.spec.routing.modelName}: whatever selects on the label (the router, an"
        f" InferencePool) calls these pods by the old name; set it to {last} or {sanitized}"
        " (krmfn never changes a label value)",
        format_path((*place, MODEL_LABEL)),
    )
