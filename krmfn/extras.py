"""The artifacts beside the model, applied through the journal: LoRA adapters
(krmfn.adapters) and the compile cache (krmfn.compile_cache), on marked containers and
their pods. Everything goes into the record, so that a changed or removed adapter or cache
leaves nothing behind."""

from __future__ import annotations

from typing import Any

from krmfn import adapters as lora
from krmfn import compile_cache
from krmfn.journal import Journal, indexed
from krmfn.krm.errors import FieldError
from krmfn.modelservice import ModelService
from krmfn.paths import Match, Path, format_path

# (message, field path)
Warnings = list[tuple[str, str]]


def check_mount_path(
    journal: Journal, container: Path, mount_path: str, mine: str, what: str = "krmfn's volume"
) -> None:
    """Raise FieldError when the container already mounts another volume than `mine`
    (`what` says whose) at `mount_path`: the API server rejects two mounts at one path."""
    mounts = journal.get((*container, "volumeMounts"))
    for index, mount in enumerate(mounts if isinstance(mounts, list) else []):
        if (
            isinstance(mount, dict)
            and _same_path(str(mount.get("mountPath", "")), mount_path)
            and mount.get("name") != mine
        ):
            name = container[-1].value if isinstance(container[-1], Match) else ""
            raise FieldError(
                f"{journal.name} container {name!r} already mounts volume"
                f" {mount.get('name')!r} at {mount_path}; remove it or move it, {what}"
                f" {mine!r} goes there",
                format_path(indexed(journal.root, (*container, "volumeMounts", index))),
            )


def _same_path(one: str, other: str) -> bool:
    return (one.rstrip("/") or "/") == (other.rstrip("/") or "/")


def init_containers(ms: ModelService, image: str) -> list[dict[str, Any]]:
    """The init containers that download adapters, running `image`."""
    return ms.adapters.init_containers(image) if ms.adapters is not None else []


def lora_args(ms: ModelService, given: list[str], where: str) -> list[str]:
    """The LoRA args a container with the args `given` still needs."""
    return ms.adapters.missing_args(given, where) if ms.adapters is not None else []


def shell_warnings(ms: ModelService, script: list[str], context: str, where: str) -> Warnings:
    """A shell-launched container's script that does not tell vLLM of the adapters."""
    adapters = ms.adapters
    if adapters is None:
        return []
    needed = adapters.missing_args(script)
    if not needed:
        return []
    return [
        (
            f"{context} runs a shell script, which krmfn does not edit: add"
            " {{ .LoraArgs }} to the vllm command in it (the adapters'"
            f" {', '.join(a.partition('=')[0] for a in needed if a.startswith('--'))})",
            where,
        )
    ]


def container(journal: Journal, path: Path, ms: ModelService, explicit_env: set[str]) -> None:
    """A marked container's adapter mounts and env, and its compile cache."""
    if ms.adapters is not None:
        for mount in ms.adapters.mounts():
            check_mount_path(journal, path, mount["mountPath"], mount["name"])
            journal.ensure((*path, "volumeMounts"), [])
            journal.set((*path, "volumeMounts", Match("mountPath", mount["mountPath"])), mount)
        for entry in ms.adapters.env():
            if entry["name"] not in explicit_env:
                _env(journal, path, entry)
    if ms.compile_cache is not None:
        _compile_cache(journal, path, ms.compile_cache, explicit_env)


def _env(journal: Journal, path: Path, entry: dict[str, Any]) -> None:
    where = (*path, "env", Match("name", entry["name"]))
    own = journal.get((*where, "value"))
    if entry["name"] == "VLLM_PLUGINS" and isinstance(own, str) and own.strip():
        # Other plugins the container loads stay loaded.
        plugins = [p.strip() for p in own.split(",")]
        if lora.RESOLVER_PLUGIN in plugins:
            return
        entry = {**entry, "value": f"{own},{lora.RESOLVER_PLUGIN}"}
    journal.ensure((*path, "env"), [])
    journal.set(where, entry)


def _own_env(journal: Journal, path: Path) -> dict[str, str]:
    env = journal.get((*path, "env"))
    listed = env if isinstance(env, list) else []
    return {
        str(e.get("name")): str(e.get("value", ""))
        for e in listed
        if isinstance(e, dict) and isinstance(e.get("value"), str)
    }


def _compile_cache(
    journal: Journal, path: Path, cache: compile_cache.CompileCache, explicit_env: set[str]
) -> None:
    """The container's own compile-cache mount moves onto the claim; without one, the
    claim is mounted at compile_cache.ROOT. The volume is written before the mount, as
    every volume krmfn adds: a take-back keeps a volume that a mount still names."""
    given = _own_env(journal, path)
    index = compile_cache.own_mount(journal.get((*path, "volumeMounts")), given)
    if index is None:
        name, mount_path = compile_cache.VOLUME, compile_cache.ROOT
        check_mount_path(journal, path, mount_path, name)
    else:
        own = journal.get((*path, "volumeMounts", index))
        name, mount_path = str(own["name"]), str(own.get("mountPath", ""))
    volume = (*path[:-2], "volumes", Match("name", name))
    if journal.get(volume) != cache.volume(name):
        journal.ensure((*path[:-2], "volumes"), [])
        journal.set(volume, cache.volume(name))
    where = (*path, "volumeMounts", Match("name", name))
    if index is None:
        mount: dict[str, Any] = {"name": name, "mountPath": mount_path}
        if cache.path:
            mount["subPath"] = cache.path
        journal.ensure((*path, "volumeMounts"), [])
        journal.set(where, mount)
    else:
        if cache.path and own.get("subPath") != cache.path:
            journal.set((*where, "subPath"), cache.path)
        if own.get("readOnly") is True:
            journal.set((*where, "readOnly"), False)
    for entry in cache.env(mount_path, given):
        if entry["name"] not in explicit_env:
            journal.ensure((*path, "env"), [])
            journal.set((*path, "env", Match("name", entry["name"])), entry)


def read_only_root_warnings(
    journal: Journal, path: Path, ms: ModelService, args: list[str]
) -> Warnings:
    """A marked container with a read-only root filesystem whose vLLM has nowhere to
    write its compile cache: vLLM creates it under VLLM_CACHE_ROOT (~/.cache/vllm) at
    start unless --enforce-eager, and stops when it cannot."""
    where = (*path, "securityContext", "readOnlyRootFilesystem")
    if journal.get(where) is not True or ms.compile_cache is not None:
        return []
    if any(a == "--enforce-eager" or a.startswith("--enforce-eager=") for a in args):
        return []
    mounts = journal.get((*path, "volumeMounts"))
    if compile_cache.own_mount(mounts, _own_env(journal, path)) is not None:
        return []
    name = path[-1].value if isinstance(path[-1], Match) else ""
    return [
        (
            f"{journal.name} container {name!r} has a read-only root filesystem, and vLLM"
            " writes its compile cache under VLLM_CACHE_ROOT (~/.cache/vllm) at start:"
            " set spec.modelArtifacts.compileCache, or mount a writable volume and point"
            " VLLM_CACHE_ROOT into it (or run with --enforce-eager)",
            format_path(indexed(journal.root, where)),
        )
    ]
