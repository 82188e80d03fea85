"""LoRA adapters: where each comes from, and what the adapters put into a model server's pod.

Every adapter is a folder `<ROOT>/<name>` in the marked containers, mounted read-only:

- `pvc://<claim>/<path>`: the claim's folder, by subPath;
- `oci://<image>[//<path>]`: an image volume (its folder by subPath);
- `hf://<repo>/<adapter>[@<revision>]`, `s3://`, `gs://`, `az://`: downloaded before vLLM
  starts by an init container (the marked container's image, with huggingface_hub or the
  Run:ai streamer's `pull_files`) into the pod's `adapters` emptyDir, whose folder of the
  adapter is mounted by subPath.

vLLM is told in one of two ways (`lora.mode`): `static` lists every adapter with
`--lora-modules`; `resolver` lets vLLM's filesystem resolver load an adapter by name from
`ROOT` when a request names it.
"""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any, NamedTuple

from krmfn.journal import fingerprint
from krmfn.krm.errors import FieldError
from krmfn.names import MAX_LABEL, sanitize
from krmfn.sources import Options, Source, parse_uri
from krmfn.sources.claims import HuggingFaceCacheOnClaim, PersistentVolumeClaim
from krmfn.sources.huggingface import HuggingFace
from krmfn.sources.images import ImageVolume
from krmfn.sources.objects import ObjectStore

if TYPE_CHECKING:
    from krmfn.modelservice import Adapter as AdapterSpec
    from krmfn.modelservice import Lora as LoraSpec

ROOT = "/adapters"
VOLUME = "adapters"
FIELD = "spec.modelArtifacts.adapters"
LORA_FIELD = "spec.modelArtifacts.lora"
RESOLVER_PLUGIN = "lora_filesystem_resolver"
# vLLM's default rank; the number of adapters vLLM keeps in a batch is, by default here,
# all of them (vLLM's own default is one).
DEFAULT_RANK = 16
SCHEMES = ("hf", "pvc", "s3", "gs", "az", "oci")
# The schemes that read the same credentials: an adapter of the model's family shares them.
_FAMILIES = {"hf": "hub", "pvc+hf": "hub"}
# Where an adapter's download writes the hub's own files (never an adapter's folder).
_HUB_HOME = f"{ROOT}/.hf-home"

# Runs in the marked container's image: vLLM images ship huggingface_hub and, for object
# storage, the Run:ai streamer.
FETCH = """\
import sys
kind, source, revision, folder = sys.argv[1:]
if kind == "hf":
    from huggingface_hub import snapshot_download
    snapshot_download(repo_id=source, revision=revision or None, local_dir=folder)
else:
    from runai_model_streamer import pull_files
    pull_files(source.rstrip("/") + "/", folder)
print(f"fetched {source} into {folder}")
"""


class Adapter(NamedTuple):
    name: str
    source: Source
    position: int  # in spec.modelArtifacts.adapters
    volume: str  # the pod volume its folder is mounted from
    container: str  # the init container that downloads it ("" if none)

    @property
    def path(self) -> str:
        return f"{ROOT}/{self.name}"

    @property
    def downloaded(self) -> bool:
        """Fetched by an init container (hf://, object storage), not mounted."""
        return bool(self.container)

    def module(self, base_model: str) -> str:
        """Its `--lora-modules` entry, in vLLM's JSON form."""
        entry = {"name": self.name, "path": self.path, "base_model_name": base_model}
        return json.dumps(entry, separators=(",", ":"))


class Adapters(NamedTuple):
    entries: tuple[Adapter, ...]
    mode: str  # static | resolver
    max_rank: int
    max_loras: int
    base_model: str  # the served model: what the adapters are for

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.entries]

    def args(self) -> list[str]:
        """What vLLM is told, in full: the --lora-modules values come first, so that the
        option after them ends the list (argparse's nargs='+')."""
        modules = [a.module(self.base_model) for a in self.entries]
        listed = ["--lora-modules", *modules] if self.mode == "static" else []
        return [
            *listed,
            "--enable-lora",
            f"--max-lora-rank={self.max_rank}",
            f"--max-loras={self.max_loras}",
        ]

    def missing_args(self, given: list[str], where: str = "") -> list[str]:
        """The args a container with `given` still needs; an option it has is its own.
        With `where`, raises FieldError (about it) for a list of modules of the
        container's own, which krmfn's would replace (vLLM keeps the last --lora-modules);
        without, such a list is taken as the adapters' (a script with {{ .LoraArgs }})."""
        if where and self.mode == "static" and _has(given, "--lora-modules"):
            raise FieldError(
                "the container lists --lora-modules of its own, and vLLM keeps only the"
                " last list: give every adapter in spec.modelArtifacts.adapters, or remove"
                " adapters and keep the container's list",
                where,
            )
        out = []
        args = self.args()
        index = 0
        while index < len(args):
            arg = args[index]
            option = arg.partition("=")[0]
            values = [arg]
            if option == "--lora-modules":
                values = args[index : index + 1 + len(self.entries)]
            if not _has(given, option):
                out += values
            index += len(values)
        return out

    def env(self) -> list[dict[str, Any]]:
        if self.mode != "resolver":
            return []
        return [
            {"name": "VLLM_PLUGINS", "value": RESOLVER_PLUGIN},
            {"name": "VLLM_LORA_RESOLVER_CACHE_DIR", "value": ROOT},
            {"name": "VLLM_ALLOW_RUNTIME_LORA_UPDATING", "value": "True"},
        ]

    def volumes(self) -> list[dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for adapter in self.entries:
            source = adapter.source
            if adapter.downloaded:
                out[VOLUME] = {"name": VOLUME, "emptyDir": {}}
                credentials = _credentials(adapter)
                if credentials is not None:
                    out[credentials[0]["name"]] = credentials[0]
            else:
                out[adapter.volume] = {"name": adapter.volume, **source.volume()}
        return list(out.values())

    def mounts(self) -> list[dict[str, Any]]:
        """The marked containers' mounts: each adapter's folder, read-only."""
        out = []
        for adapter in self.entries:
            source = adapter.source
            mount: dict[str, Any] = {"name": adapter.volume, "mountPath": adapter.path}
            sub = adapter.name if adapter.downloaded else getattr(source, "path", "")
            if sub:
                mount["subPath"] = sub
            mount["readOnly"] = True
            out.append(mount)
        return out

    def init_containers(self, image: str) -> list[dict[str, Any]]:
        """One init container per adapter to download, in the order given."""
        return [_fetcher(a, image) for a in self.entries if a.downloaded]

    def variables(self) -> dict[str, str]:
        return {
            "AdapterRoot": ROOT if self.entries else "",
            "AdapterNames": " ".join(self.names),
            "LoraArgs": shlex.join(self.args()) if self.entries else "",
        }

    def describe(self) -> str:
        how = "--lora-modules" if self.mode == "static" else "vLLM's filesystem resolver"
        return f"adapters {', '.join(self.names)} in {ROOT} ({how})"


def _has(args: list[str], option: str) -> bool:
    """Whether `option` is given, as `--opt value`, `--opt=value`, or with underscores."""
    spellings = {option, option.replace("-", "_").replace("__", "--", 1)}
    return any(a.partition("=")[0] in spellings for a in args)


def _credentials(adapter: Adapter) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """An adapter's credential files (a Cloud Storage key), as a volume of its own: the
    model's may come from another Secret."""
    found = adapter.source.credential_volume()
    if found is None:
        return None
    volume, mount = found
    name = _label(f"{adapter.container}-key")
    return {**volume, "name": name}, {**mount, "name": name}


def _fetcher(adapter: Adapter, image: str) -> dict[str, Any]:
    source = adapter.source
    mounts = [{"name": VOLUME, "mountPath": ROOT}]
    if isinstance(source, HuggingFace):
        args = ["hf", source.hf_model_name, source.rev, adapter.path]
        env = source.hub_env({"name": "HF_HOME", "value": _HUB_HOME}, offline=False)
    else:
        assert isinstance(source, ObjectStore)
        args = [source.scheme, source.mounted_model_path, "", adapter.path]
        env = source.store_env()
        credentials = _credentials(adapter)
        if credentials is not None:
            mounts.append(credentials[1])
    container: dict[str, Any] = {
        "name": adapter.container,
        "image": image,
        "command": ["python3", "-c", FETCH],
        "args": args,
    }
    if env:
        container["env"] = env
    container["volumeMounts"] = mounts
    container["resources"] = {"requests": {"cpu": "100m", "memory": "256Mi"}}
    return container


def _label(text: str) -> str:
    """A DNS-1123 label from `text`: sanitised, and cut with a digest when too long."""
    name = sanitize(text)
    if name == text or len(text) <= MAX_LABEL:
        return name
    return f"{name[: MAX_LABEL - 7].rstrip('-')}-{fingerprint(text)}"


def _unique(names: list[str], base: str, key: str) -> str:
    """`base`, or with a digest of `key` (what it was made of) when another's name
    sanitises to the same."""
    return base if names.count(base) == 1 else f"{base[: MAX_LABEL - 7]}-{fingerprint(key)}"


def _inherits(scheme: str, model: Source) -> bool:
    family = _FAMILIES.get(scheme, scheme)
    return family == _FAMILIES.get(model.scheme, model.scheme)


def _options(spec: AdapterSpec, model: Source) -> Options:
    """An adapter's source options: its own settings, or the model's where it is of the
    model's family (the same hub, the same store). The Secret and the kind of credentials
    go together: an adapter that gives either takes neither from the model (a gs://
    adapter with `credentials: workloadIdentity` beside a model with a key has no Secret)."""
    mine = model.options if _inherits(spec.uri.partition("://")[0], model) else Options()
    if spec.authSecretName is not None or spec.credentials is not None:
        mine = mine._replace(auth_secret_name="", credentials="")
    base = model.options

    def pick(own: str | None, inherited: str) -> str:
        return own if own is not None else inherited

    return base._replace(
        mount_root=f"{ROOT}/{spec.name}",
        auth_secret_name=pick(spec.authSecretName, mine.auth_secret_name),
        size=None,
        read_only=True,
        endpoint=pick(spec.endpoint, mine.endpoint),
        region=pick(spec.region, mine.region),
        account=pick(spec.account, mine.account),
        credentials=pick(spec.credentials, mine.credentials),
        pull_policy=spec.pullPolicy or "",
        prefetch=False,
    )


def _source(spec: AdapterSpec, index: int, model: Source) -> Source:
    where = f"{FIELD}[{index}]"
    scheme, sep, _ = spec.uri.partition("://")
    if not sep or scheme not in SCHEMES:
        supported = ", ".join(f"{s}://" for s in SCHEMES)
        raise FieldError(
            f"unsupported adapter URI {spec.uri!r}; supported schemes: {supported}",
            f"{where}.uri",
        )
    try:
        source = parse_uri(spec.uri, _options(spec, model))
    except FieldError as exc:
        raise FieldError(exc.message, _moved(exc.path, where)) from None
    assert not isinstance(source, HuggingFaceCacheOnClaim)
    return source


def _moved(path: str, where: str) -> str:
    """A source's error about a field of spec.modelArtifacts, about the adapter's own."""
    return path.replace("spec.modelArtifacts", where, 1) if path else where


def _names(specs: list[AdapterSpec], base_model: str) -> list[FieldError]:
    problems = []
    seen: dict[str, int] = {}
    for index, spec in enumerate(specs):
        where = f"{FIELD}[{index}].name"
        if spec.name in seen:
            problems.append(
                FieldError(
                    f"adapter {spec.name!r} is given twice ({FIELD}[{seen[spec.name]}] and"
                    f" [{index}]); clients name an adapter by its name: one name, one adapter",
                    where,
                )
            )
        elif spec.name == base_model:
            problems.append(
                FieldError(
                    f"adapter {spec.name!r} has the name vLLM serves the base model by"
                    " (spec.routing.modelName): a request could not say which it means",
                    where,
                )
            )
        seen.setdefault(spec.name, index)
    return problems


def parse(
    specs: list[AdapterSpec] | None, lora: LoraSpec | None, model: Source, base_model: str
) -> Adapters | list[FieldError]:
    """The adapters of a ModelService, or every problem found, with its field path."""
    specs = specs or []
    problems = _names(specs, base_model)
    sources = []
    for index, spec in enumerate(specs):
        try:
            sources.append(_source(spec, index, model))
        except FieldError as exc:
            problems.append(exc)
    if problems:
        return problems
    containers = [_label(f"adapter-{s.name}") for s in specs]
    claims = {s.claim for s in sources if isinstance(s, PersistentVolumeClaim)}
    claim_volumes = {c: _label(f"adapters-{c}") for c in sorted(claims)}
    entries = []
    for index, (spec, source) in enumerate(zip(specs, sources, strict=True)):
        container = _unique(containers, containers[index], spec.name)
        if isinstance(source, PersistentVolumeClaim):
            volume = _unique(
                list(claim_volumes.values()), claim_volumes[source.claim], source.claim
            )
        elif isinstance(source, ImageVolume):
            volume = container
        else:
            volume = VOLUME
        fetches = isinstance(source, (HuggingFace, ObjectStore))
        entries.append(Adapter(spec.name, source, index, volume, container if fetches else ""))
    mode = lora.mode if lora is not None else "static"
    max_rank = (lora.maxRank if lora is not None else None) or DEFAULT_RANK
    max_loras = (lora.maxLoras if lora is not None else None) or max(len(entries), 1)
    return Adapters(tuple(entries), mode, max_rank, max_loras, base_model)


def notices(
    found: Adapters | None, specs: list[AdapterSpec] | None, lora: LoraSpec | None
) -> list[tuple[str, str]]:
    """(message, field path) of adapter settings that have no effect: lora without
    adapters, an adapter's setting its scheme does not use."""
    if lora is not None and not specs:
        return [
            (
                "lora has no effect without adapters: vLLM is told of LoRA only when"
                " spec.modelArtifacts.adapters lists some; remove it or add adapters",
                LORA_FIELD,
            )
        ]
    out = []
    for adapter, spec in zip(found.entries if found else (), specs or [], strict=False):
        given = {"authSecretName": spec.authSecretName, "pullPolicy": spec.pullPolicy}
        where = f"{FIELD}[{adapter.position}]"
        out += [(m, _moved(p, where)) for m, p in adapter.source.unused(given)]
    return out


def warnings(found: Adapters | None) -> list[tuple[str, str]]:
    """(message, field path) of what the adapters' pods will do that the user may not
    expect (an image volume's requirements, an S3 store without a region)."""
    out = []
    for adapter in found.entries if found else ():
        where = f"{FIELD}[{adapter.position}]"
        out += [(m, _moved(p, where)) for m, p in adapter.source.warnings()]
    return out
