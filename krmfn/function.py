"""The model-artifacts function: ModelServices and their workloads in, edits and results out.

For each ModelService: plan (validate it, find its targets, render its ContainerSpecs),
edit each target on its own round-tripped copy, and commit the edits only when every
target took them: an error anywhere leaves all of its targets as they came in. It knows
nothing of stdin or stdout: `krmfn.krm.run` reads the document and writes it back.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

from krmfn import adapters, generate, orphans
from krmfn.apply import apply_roles
from krmfn.config import Config
from krmfn.credentials import literal_secrets
from krmfn.kinds import is_model_service
from krmfn.krm import Document, FieldError, Item, Result, Severity
from krmfn.krm.results import ResourceRef
from krmfn.modelservice import Identity, ModelService, load
from krmfn.render import RenderedRole, Renderer
from krmfn.scalers import Scalers
from krmfn.selectors import PREVIOUS_NAMES, original_names
from krmfn.targets import Discovery, Target, discover, ms_key, not_found
from krmfn.unknown_fields import unknown_fields
from krmfn.workloads import pods

# A ModelService in the items (its results name its file), or given as the config.
Origin = Item | ResourceRef


class _Context(NamedTuple):
    doc: Document
    results: list[Result]
    present: generate.Present
    scalers: Scalers

    def result(self, about: Origin, severity: Severity, message: str, path: str = "") -> None:
        """A result about one item, with the file kpt read it from, or about the
        functionConfig (which has no file)."""
        ref, file = _where(about)
        self.results.append(Result(message, severity, ref, path, *file))

    def error(self, about: Origin, error: FieldError, prefix: str = "") -> None:
        self.results.append(Result.of(error, *_where(about), prefix=prefix))


def _where(about: Origin) -> tuple[ResourceRef, tuple[str, int | None]]:
    return (about, ("", None)) if isinstance(about, ResourceRef) else (about.ref, about.file)


class _Edit(NamedTuple):
    item: Item
    text: str | None  # None: applying changed nothing
    comments_lost: bool
    secrets: list[tuple[str, str, str]]  # (field path, container, env var)
    image: str  # of the first container the ModelService marks
    pods: int
    warnings: list[tuple[str, str]]  # (message, field path)
    notes: list[tuple[str, str]]  # what was left alone on purpose: (message, field path)


def _edit(
    target: Target, renderer: Renderer, roles: dict[str, RenderedRole], scalers: Scalers
) -> _Edit:
    """Apply the target's roles to a round-tripped copy of it. Raises FieldError."""
    from krmfn.krm.roundtrip import RoundTrip, to_plain

    item = target.item
    view = RoundTrip(item)
    before = to_plain(view.data)
    rendered = [(role, roles[role]) for role in target.roles]
    scaled_by = {role: scalers.owner(item, role) for role in target.roles}
    applied = apply_roles(view.data, item.kind, item.describe(), renderer, rendered, scaled_by)
    text, lost = view.text() if to_plain(view.data) != before else (None, False)
    secrets = literal_secrets(view.data, item.kind)
    count = pods(item.kind, view.data)
    return _Edit(item, text, lost, secrets, applied.image, count, applied.warnings, applied.notes)


def _apply_service(
    ctx: _Context, origin: Origin, ms: ModelService, targets: list[Target], strict: bool
) -> None:
    """Plan, edit each target, commit: an error anywhere (a warning, when strict) leaves
    every target as it came."""
    renderer = Renderer(ms)
    try:
        roles = {role: renderer.role(role) for role in ms.roles}
    except FieldError as exc:
        ctx.error(origin, exc, f"{ms.ref} ")
        return
    edits = []
    for target in targets:
        try:
            edits.append(_edit(target, renderer, roles, ctx.scalers))
        except FieldError as exc:
            ctx.error(target.item, exc, f"{ms.ref}: ")
            return
    if strict and any(edit.warnings for edit in edits):
        for edit in edits:
            for message, path in edit.warnings:
                ctx.result(edit.item, Severity.ERROR, message, path)
        return
    try:
        generated = _generated(ms, origin, targets, edits)
    except FieldError as exc:
        ctx.error(origin, exc)
        return
    _commit(ctx, origin, ms, targets, edits, generated)


def _namespace(ms: ModelService, targets: list[Target]) -> str:
    """Where generated items go: the ModelService's namespace, or its workloads' for a
    ModelService given as the config without one."""
    return ms.namespace or targets[0].item.namespace


def _generated(
    ms: ModelService, origin: Origin, targets: list[Target], edits: list[_Edit]
) -> list[dict[str, Any]]:
    # kpt writes new items to the file their path annotation names: beside the
    # ModelService's, or the first workload's for a ModelService given as the config.
    about = origin if isinstance(origin, Item) else targets[0].item
    image = next((e.image for e in edits if e.image), "")
    return generate.items(ms, image, _namespace(ms, targets), about.file[0])


def _commit(
    ctx: _Context,
    origin: Origin,
    ms: ModelService,
    targets: list[Target],
    edits: list[_Edit],
    generated: list[dict[str, Any]],
) -> None:
    pods = sum(e.pods for e in edits)
    warning = generate.claim_warning(ctx.present, ms, _namespace(ms, targets), generated, pods)
    cache_warning = generate.compile_cache_warning(ctx.present, ms, _namespace(ms, targets), pods)
    try:
        made_ahead = generate.upsert(ctx.present, ms, generated)
    except FieldError as exc:  # nothing is changed yet
        ctx.error(origin, exc)
        return
    for said in (warning, cache_warning):
        if said is not None:
            ctx.result(origin, Severity.WARNING, *said)
    for edit in edits:
        if edit.text is not None:
            ctx.doc.replace(edit.item, edit.text)
        if edit.comments_lost:
            ctx.result(
                edit.item,
                Severity.WARNING,
                "its comments could not be kept: written back with them, it would not be"
                " valid YAML (a comment after a flow collection at the end of a list, say)",
            )
    for edit in edits:
        for message, path in edit.notes:
            ctx.result(edit.item, Severity.INFO, message, path)
        for message, path in edit.warnings:
            ctx.result(edit.item, Severity.WARNING, message, path)
        for path, container, name in edit.secrets:
            ctx.result(
                edit.item,
                Severity.WARNING,
                f"container {container!r} sets {name} to a literal value; keep it in a Secret"
                " (for the Hugging Face token: modelArtifacts.authSecretName)",
                path,
            )
    applied = ", ".join(f"{t.item.describe()} ({', '.join(t.roles)}, by {t.how})" for t in targets)
    made = [
        f"{d['kind']} {d['metadata']['name']}"
        for d in generated
        if generate.key(d) not in made_ahead
    ]
    also = f"; generated {', '.join(made)}" if made else ""
    extras = [x.describe() for x in (ms.adapters, ms.compile_cache) if x is not None]
    besides = "".join(f", {x}" for x in extras)
    ctx.result(
        origin,
        Severity.INFO,
        f"applied {ms.spec.modelArtifacts.uri} ({ms.source.describe()}{besides}) to"
        f" {applied}{also}",
    )


def _load_items(ctx: _Context, config: Config) -> list[tuple[Origin, ModelService]]:
    services: list[tuple[Origin, ModelService]] = []
    for item in ctx.doc.items:
        if not is_model_service(item):
            continue
        if not item.name:
            ctx.result(item, Severity.ERROR, "is required", "metadata.name")
            continue
        try:
            data = item.construct()
        except FieldError as exc:
            ctx.error(item, exc, "cannot be read: ")
            continue
        original = original_names(item.annotations, item.name, PREVIOUS_NAMES)[-1]
        try:
            loaded = load(Identity(item.name, item.namespace, original), data, config)
        except Exception as exc:  # one ModelService's internal error is its own
            ctx.result(item, Severity.ERROR, f"internal error: {type(exc).__name__}: {exc}")
            continue
        if isinstance(loaded, ModelService):
            services.append((item, loaded))
            continue
        for problem in loaded:
            ctx.error(item, problem)
    return services


def _load_config_service(
    ctx: _Context, data: dict[str, Any], config: Config
) -> tuple[ResourceRef, ModelService] | None:
    """The ModelService given as the functionConfig (kustomize's `transformers:` entry,
    kpt's `--fn-config`), applied like one in the items."""
    ref = ResourceRef.of(data)
    assert ref is not None  # a mapping: the processor saw its kind
    if not ref.name:
        ctx.result(ref, Severity.ERROR, "is required", "metadata.name")
        return None
    loaded = load(Identity(ref.name, ref.namespace, from_config=True), data, config)
    if isinstance(loaded, ModelService):
        return ref, loaded
    for problem in loaded:
        ctx.error(ref, problem)
    return None


def _serve(
    ctx: _Context, origin: Origin, ms: ModelService, found: Discovery, config: Config
) -> None:
    """Apply one ModelService to the targets discovery found for it."""
    strict = config.strict or ms.strict
    severity = Severity.ERROR if strict else Severity.WARNING
    key = ms_key(ms)
    conflicts = found.conflicts.get(key)
    if conflicts:
        for message in conflicts:
            ctx.result(origin, Severity.ERROR, message)
        return
    targets = found.targets[key]
    # What the ModelService says that nothing will do: typos, settings of other sources.
    artifacts = ms.spec.modelArtifacts
    notices = [
        *unknown_fields(ms.spec),
        *ms.source.unused(artifacts.model_dump()),
        *adapters.notices(ms.adapters, artifacts.adapters, artifacts.lora),
    ]
    for message, path in notices:
        ctx.result(origin, severity, message, path)
    if not ms.roles:
        ctx.result(origin, severity, "has neither a decode nor a prefill role: nothing to apply")
        return
    applied = {r for t in targets for r in t.roles}
    # A role without a workload is said even when the others apply.
    missing = [r for r in ms.roles if r not in applied]
    if missing:
        ctx.result(origin, severity, not_found(ms, missing, ctx.doc.items, config.kinds))
    if not targets or (strict and (missing or notices)):
        return
    for warning, path in [*ms.source.warnings(), *adapters.warnings(ms.adapters)]:
        ctx.result(origin, Severity.WARNING, warning, path)
    _apply_service(ctx, origin, ms, targets, strict)


def _unique(
    ctx: _Context, services: list[tuple[Origin, ModelService]]
) -> list[tuple[Origin, ModelService]]:
    """Two ModelServices of one name and namespace are one too many: which one the
    workloads follow would depend on their order, and the API server would keep one."""
    count = Counter(ms_key(ms) for _, ms in services)
    for origin, ms in services:
        if count[ms_key(ms)] > 1:
            ctx.result(
                origin,
                Severity.ERROR,
                f"{ms.ref} is given {count[ms_key(ms)]} times; a name and namespace name one"
                " ModelService: rename or remove the others (none of them is applied)",
            )
    return [(origin, ms) for origin, ms in services if count[ms_key(ms)] == 1]


def process(doc: Document, config: Config, config_service: Any = None) -> list[Result]:
    """Apply every ModelService of the list, and the one given as the functionConfig."""
    ctx = _Context(doc, [], generate.Present(doc), Scalers(doc.items))
    services = _load_items(ctx, config)
    if config_service is not None:
        given = _load_config_service(ctx, config_service, config)
        # kpt passes a package's config file in the items too: one ModelService, once.
        if given is not None and all(ms_key(ms) != ms_key(given[1]) for _, ms in services):
            services.append(given)
    services = _unique(ctx, services)
    found = discover(doc.items, [ms for _, ms in services], config.kinds)
    for origin, ms in services:
        # One ModelService's internal error is its own: the others still apply.
        try:
            _serve(ctx, origin, ms, found, config)
        except Exception as exc:  # never a traceback, never another's edits lost
            ctx.result(origin, Severity.ERROR, f"internal error: {type(exc).__name__}: {exc}")
    _take_back_orphans(ctx, {ms.qualified for _, ms in services}, found.claimed)
    return ctx.results


def _take_back_orphans(ctx: _Context, serving: set[str], claimed: set[int]) -> None:
    """Workloads a ModelService here edited before and no longer targets come out as
    they were written (krmfn.orphans)."""
    for orphan in orphans.find(ctx.doc.items, serving, claimed):
        try:
            text, lost = orphans.restored(orphan.item)
        except FieldError as exc:
            ctx.error(orphan.item, exc, f"ModelService {orphan.by} no longer targets it: ")
            continue
        ctx.doc.replace(orphan.item, text)
        ctx.result(
            orphan.item,
            Severity.INFO,
            f"ModelService {orphan.by} no longer targets it: took back what it applied"
            + (" (its comments could not be kept)" if lost else ""),
        )
