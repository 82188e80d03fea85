"""The items a ModelService generates beside its workloads (a prefetch Job, and its claim
if asked for), and putting them in the list once."""

from __future__ import annotations

from typing import Any

from krmfn import compile_cache, prefetch
from krmfn.krm import Document, FieldError, Item
from krmfn.modelservice import ModelService
from krmfn.sources import HuggingFaceCacheOnClaim

CLAIM_MODES_FIELD = "spec.modelArtifacts.prefetch.claim.accessModes"


def items(ms: ModelService, image: str, namespace: str, file: str) -> list[dict[str, Any]]:
    """What the ModelService generates: `image` is its first marked container's (for the
    Job, unless `prefetch.image` says), `file` where kpt read the ModelService from (the
    new items go beside it). Raises FieldError."""
    settings = ms.spec.modelArtifacts.prefetch_options
    if settings is None:
        return []
    source = ms.source
    assert isinstance(source, HuggingFaceCacheOnClaim)  # only it prefetches
    image = settings.image or image
    if not image:
        raise FieldError(
            "prefetch needs an image with python3 and huggingface_hub, and no target has a"
            " marked container to take it from: set it",
            "spec.modelArtifacts.prefetch.image",
        )
    generated = [prefetch.job(ms, source, namespace, image)]
    claim = prefetch.claim(ms, source, namespace)
    if claim is not None:
        generated.append(claim)
    return prefetch.placed(generated, file, ms)


def key(data: dict[str, Any]) -> tuple[str, str, str]:
    return data["kind"], data["metadata"].get("namespace", ""), data["metadata"]["name"]


class Present:
    """The items already in the list, found once for every ModelService: those the
    function generated, by the ModelService they serve, and (when a ModelService
    generates any) every item by kind, namespace and name."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.generated: dict[str, list[Item]] = {}
        for item in doc.items:
            by = item.annotations.get(prefetch.GENERATED_BY)
            if by is not None:
                self.generated.setdefault(by, []).append(item)
        self._by_key: dict[tuple[str, str, str], Item] | None = None

    def by_key(self) -> dict[tuple[str, str, str], Item]:
        if self._by_key is None:
            self._by_key = {(i.kind, i.namespace, i.name): i for i in self.doc.items}
        return self._by_key


def upsert(
    present: Present, ms: ModelService, generated: list[dict[str, Any]]
) -> dict[tuple[str, str, str], Item]:
    """Put generated items in the list once. Those generated earlier stay as they are
    while they are what would be generated now; else they all leave and the new ones come,
    in order, as a fresh run writes them. An item of the same name the user wrote is the
    user's (a claim made ahead): it is not generated, and it is returned by its key."""
    ours = present.generated.get(ms.qualified, [])
    theirs = {}
    if generated:
        items = present.by_key()
        theirs = {key(d): items[key(d)] for d in generated if key(d) in items}
        theirs = {k: i for k, i in theirs.items() if i not in ours}
    wanted = [data for data in generated if key(data) not in theirs]
    if _as_read(ours) != [prefetch.comparable(data) for data in wanted]:
        for item in ours:
            anchor = item.holds_anchor_used_elsewhere()
            if anchor is not None:
                raise FieldError(
                    f"{item.describe()} was generated for it and must be replaced, but"
                    f" another item uses its anchor &{anchor} (through an alias); write"
                    " the value out in the other item"
                )
        for item in ours:
            present.doc.drop(item)
        for data in wanted:
            present.doc.append(data)
    return theirs


def _as_read(items: list[Item]) -> list[Any] | None:
    """The generated items in the list, to compare with what would be generated now;
    None when one cannot be read on its own (an alias of another item's anchor, say):
    it is replaced."""
    try:
        return [prefetch.comparable(item.construct()) for item in items]
    except FieldError:
        return None


def claim_warning(
    present: Present,
    ms: ModelService,
    namespace: str,
    generated: list[dict[str, Any]],
    pods: int,
) -> tuple[str, str] | None:
    """(message, field) when the prefetch claim, generated or the user's, cannot be
    mounted by several pods on several nodes while the Job writes to it; else None."""
    source = ms.source
    if pods < 2 or not isinstance(source, HuggingFaceCacheOnClaim) or not source.options.prefetch:
        return None
    user = present.by_key().get(("PersistentVolumeClaim", namespace, source.claim))
    if user is not None and user.annotations.get(prefetch.GENERATED_BY) == ms.qualified:
        user = None
    made = [d for d in generated if d["kind"] == "PersistentVolumeClaim"]
    claim = user.construct() if user is not None else (made[0] if made else None)
    modes = _unshared(claim)
    if modes is None:
        return None
    whose = "the claim" if user is not None else "the generated claim"
    message = (
        f"{whose} {source.claim} is {modes}, not ReadWriteMany, while {pods} pods mount it"
        " and the prefetch Job writes to it: pods on other nodes cannot"
    )
    return message, CLAIM_MODES_FIELD if user is None else "spec.modelArtifacts.uri"


def compile_cache_warning(
    present: Present, ms: ModelService, namespace: str, pods: int
) -> tuple[str, str] | None:
    """(message, field) when the compile cache's claim, where the list holds it, cannot
    be mounted writable by the `pods` pods on several nodes; else None."""
    cache = ms.compile_cache
    if cache is None or pods < 2:
        return None
    user = present.by_key().get(("PersistentVolumeClaim", namespace, cache.claim))
    modes = _unshared(user.construct() if user is not None else None)
    if modes is None:
        return None
    message = (
        f"the compile cache's claim {cache.claim} is {modes}, not ReadWriteMany, while"
        f" {pods} pods mount it writable: pods on other nodes cannot"
    )
    return message, compile_cache.FIELD


def _unshared(claim: Any) -> str | None:
    """A claim's access modes, as a message says them, unless it is ReadWriteMany (or not
    a claim to read): None."""
    if not isinstance(claim, dict):
        return None
    spec = claim.get("spec")
    modes = (spec.get("accessModes") if isinstance(spec, dict) else None) or []
    if "ReadWriteMany" in modes:
        return None
    return ", ".join(map(str, modes)) or "without accessModes"
