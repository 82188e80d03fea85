"""The ModelService resource (llm-d.ai/v1alpha1) as the function reads it."""

from __future__ import annotations

import re
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from krmfn import adapters as adapter_sources
from krmfn import compile_cache
from krmfn.config import Config
from krmfn.kinds import MODELSERVICE_API_VERSION, MODELSERVICE_KIND, ROLES, WORKLOAD_KINDS
from krmfn.krm.errors import FieldError
from krmfn.krm.results import ResourceRef
from krmfn.names import sanitize
from krmfn.paths import format_path
from krmfn.selectors import TargetSelector
from krmfn.sources import Options, Source, parse_uri

# `"true"` on a ModelService: its warnings are errors, as with the config's `strict`, for
# a ModelService given as kustomize's transformer (which has no other config).
STRICT_ANNOTATION = "krmfn.llm-d.ai/strict"


class _Model(BaseModel):
    # strict: a string where the API wants a number (or the reverse) is an error, as the
    # API server would say; extra: the CRD has fields this function does not read.
    # A docstring under a field is its description in the published schema (krmfn
    # schema reads them from the source), which editors show.
    model_config = ConfigDict(strict=True, extra="allow", frozen=True, defer_build=True)


class EnvVar(_Model):
    name: str
    value: str | None = None
    valueFrom: dict[str, Any] | None = None


class Resources(_Model):
    limits: dict[str, str | int | float] | None = None
    requests: dict[str, str | int | float] | None = None


class ContainerSpec(_Model):
    name: str
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[EnvVar] | None = None
    envFrom: list[dict[str, Any]] | None = None
    resources: Resources | None = None
    mountModelVolume: bool = False
    """Mount the model (and the adapters, the compile cache) into this container and give it
    the model's env and args."""


class AcceleratorTypes(_Model):
    labelKey: str
    labelValues: list[str] = Field(min_length=1)


class _Options(BaseModel):
    """Options of krmfn's own: a typo must not be silently ignored."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)


class Target(_Options):
    """kustomize's patch target fields; a typo must not silently widen the selection."""

    group: str | None = None
    version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    labelSelector: str | None = None
    annotationSelector: str | None = None


class Role(_Model):
    target: Target | None = None
    """The workloads this role applies to, as kustomize's patch target selects them; without
    it, the workload named <name>-<role> (docs/targets.md)."""
    replicas: int | None = Field(default=None, ge=0)
    """The role's replicas, written where the workload has one place for them and no
    autoscaler owns them."""
    containers: list[ContainerSpec] | None = None
    initContainers: list[ContainerSpec] | None = None
    acceleratorTypes: AcceleratorTypes | None = None


class Port(_Model):
    name: str
    port: int


class Routing(_Model):
    modelName: str = Field(min_length=1)
    ports: list[Port] | None = None


class PrefetchClaim(_Options):
    size: str | int
    storageClassName: str | None = None
    accessModes: list[str] = Field(default=["ReadWriteMany"], min_length=1)


class Prefetch(_Options):
    image: str | None = None
    """The image of the prefetch Job (python3 and huggingface_hub); by default the first
    marked container's."""
    timeoutSeconds: int = Field(default=3600, gt=0)
    backoffLimit: int = Field(default=4, ge=0)
    resources: Resources | None = None
    claim: PrefetchClaim | None = None
    """Generate the claim the cache lives on."""


# What a client sends as `model` for an adapter, and its folder's name under the adapter
# root: one path segment, so that vLLM's filesystem resolver finds it by that name.
ADAPTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class Adapter(_Options):
    """A LoRA adapter: its name (what clients send as `model`) and where it comes from,
    with the same credentials settings as the model's own source."""

    name: str = Field(json_schema_extra={"pattern": f"^{ADAPTER_NAME.pattern}$"})
    uri: str
    """hf://<repo>/<adapter>[@<revision>], pvc://<claim>/<path>, s3://, gs://, az://
    <bucket>/<path>, or oci://<image>[//<path>]."""
    authSecretName: str | None = None
    """The Secret with its credentials; by default the model's, for an adapter of the
    model's family (the same hub, the same store)."""
    endpoint: str | None = None
    region: str | None = None
    account: str | None = None
    credentials: str | None = None
    pullPolicy: str | None = None

    @field_validator("name")
    @classmethod
    def _vllm_name(cls, name: str) -> str:
        if not ADAPTER_NAME.fullmatch(name):
            raise ValueError(
                f"{name!r} is not an adapter name: 1 to 128 letters, digits, '.', '_' and"
                " '-', starting with a letter or digit (it is a folder under the adapter"
                " root, and what clients send as model)"
            )
        return name


class Lora(_Options):
    """How vLLM is told of the adapters: `static` lists them with --lora-modules,
    `resolver` lets vLLM's filesystem resolver load them by name from the adapter root."""

    mode: Literal["static", "resolver"] = "static"
    """static: --lora-modules lists every adapter; resolver: vLLM's filesystem resolver
    loads one when a request names it."""
    # vLLM's LoRAConfig admits these ranks only.
    maxRank: Literal[1, 8, 16, 32, 64, 128, 256, 320, 512] | None = None
    """vLLM's --max-lora-rank (16 by default): at least every adapter's r."""
    maxLoras: int | None = Field(default=None, gt=0)
    """vLLM's --max-loras: adapters in one batch (by default, all of them)."""


class ModelArtifacts(_Model):
    uri: str
    """Where the model comes from: hf://, pvc://, pvc+hf://, oci://, s3://, gs://, az://
    (docs/sources.md)."""
    authSecretName: str | None = None
    """The Secret with the credentials: the Hugging Face token (key HF_TOKEN), or the object
    store's keys."""
    size: str | int | float | None = None
    """The emptyDir's sizeLimit for hf://, and the node disk the pod requests for it."""
    pullPolicy: str | None = None
    prefetch: bool | Prefetch = False
    """pvc+hf:// only: fill the cache on the claim once, with a Job, instead of in each pod."""
    endpoint: str | None = None
    """s3:// (an S3-compatible store such as MinIO) and gs:// with hmac credentials: the
    store's URL."""
    region: str | None = None
    account: str | None = None
    credentials: str | None = None
    adapters: list[Adapter] | None = None
    """LoRA adapters, each mounted at /adapters/<name> (docs/adapters.md)."""
    lora: Lora | None = None
    """How vLLM is told of the adapters."""
    compileCache: str | None = None
    """pvc://<claim>[/<path>]: vLLM's and torch inductor's compile caches on a claim the
    pods share (docs/adapters.md)."""

    @property
    def prefetch_options(self) -> Prefetch | None:
        """The prefetch settings (`prefetch: true` takes every default), or None."""
        if self.prefetch is True:
            return Prefetch()
        return self.prefetch or None


class Spec(_Model):
    routing: Routing
    modelArtifacts: ModelArtifacts
    decoupleScaling: bool = False
    decode: Role | None = None
    prefill: Role | None = None


class Manifest(_Model):
    spec: Spec


class ModelService(NamedTuple):
    name: str
    namespace: str
    spec: Spec
    source: Source
    sanitized_model_name: str
    # The name it had before kustomize's namePrefix/nameSuffix, if it had another.
    original_name: str
    # Given as the functionConfig (kustomize's `transformers:` entry): without a namespace
    # it applies to the whole build, as kustomize's own transformers do.
    from_config: bool
    targets: dict[str, TargetSelector]  # by role
    strict: bool = False  # by its annotation
    adapters: adapter_sources.Adapters | None = None
    compile_cache: compile_cache.CompileCache | None = None

    def role(self, role: str) -> Role | None:
        value: Role | None = getattr(self.spec, role)
        return value

    @property
    def roles(self) -> list[str]:
        return [r for r in ROLES if self.role(r) is not None]

    @property
    def model_labels(self) -> tuple[str, ...]:
        """The `llm-d.ai/model` values that name this model: the sanitised name, and
        the last segment of the model name as written (as llm-d's guides label)."""
        last = self.spec.routing.modelName.rsplit("/", 1)[-1]
        return (self.sanitized_model_name, last)

    @property
    def ref(self) -> str:
        """`ModelService namespace/name`, for messages."""
        return ResourceRef(
            MODELSERVICE_API_VERSION, MODELSERVICE_KIND, self.name, self.namespace
        ).describe()

    @property
    def qualified(self) -> str:
        """`namespace/name`, or `name`: how what the function writes names it."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def serves(self, namespace: str) -> bool:
        """Whether workloads of this namespace can be its targets."""
        return namespace == self.namespace or (self.from_config and not self.namespace)

    def variables(self) -> dict[str, str]:
        """The template variables of the behaviour spec, section 6."""
        name = self.name
        return {
            "ModelServiceName": name,
            "ModelServiceNamespace": self.namespace,
            "ModelName": self.spec.routing.modelName,
            "SanitizedModelName": self.sanitized_model_name,
            "HFModelName": self.source.hf_model_name,
            "ModelPath": self.source.model_path,
            "MountedModelPath": self.source.mounted_model_path,
            "AuthSecretName": self.spec.modelArtifacts.authSecretName or "",
            "DecodeDeploymentName": sanitize(f"{name}-decode"),
            "PrefillDeploymentName": sanitize(f"{name}-prefill"),
            "DecodeServiceName": sanitize(f"{name}-service-decode"),
            "PrefillServiceName": sanitize(f"{name}-service-prefill"),
            "EPPDeploymentName": sanitize(f"{name}-epp"),
            "EPPServiceName": sanitize(f"{name}-epp-service"),
            "InferencePoolName": sanitize(f"{name}-inference-pool"),
            "InferenceModelName": name,
            "Revision": self.source.revision,
            **(self.adapters or _NO_ADAPTERS).variables(),
        }

    def ports(self) -> dict[str, int]:
        return {p.name: p.port for p in self.spec.routing.ports or []}


_NO_ADAPTERS = adapter_sources.Adapters((), "static", 0, 0, "")


def _type_name(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _describe(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":  # only krmfn's own options forbid unknown fields
        owner = next(_OWNERS[p] for p in reversed(error["loc"][:-1]) if p in _OWNERS)
        return f"is not a known field; the fields are {', '.join(owner.model_fields)}"
    if kind == "value_error":  # a validator's own message
        return str(error["ctx"]["error"])
    if kind.endswith("_type") or kind in ("model_type", "model_attributes_type"):
        expected = {
            "string_type": "a string",
            "int_type": "an integer",
            "bool_type": "a boolean",
            "list_type": "a list",
            "dict_type": "a mapping",
            "model_type": "a mapping",
            "float_type": "a number",
        }.get(kind, kind.removesuffix("_type"))
        return f"must be {expected}, not {_type_name(error['input'])}"
    return str(error["msg"]).lower()


# krmfn's own options (which forbid unknown fields) by the field that holds them.
_OWNERS: dict[str | int, type[BaseModel]] = {
    "target": Target,
    "claim": PrefetchClaim,
    "prefetch": Prefetch,
    "adapters": Adapter,
    "lora": Lora,
}


class Identity(NamedTuple):
    """Who a ModelService is, from its metadata and where it came from."""

    name: str
    namespace: str
    original_name: str = ""
    from_config: bool = False


def _strict(data: dict[str, Any]) -> bool:
    metadata = data.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    value = annotations.get(STRICT_ANNOTATION) if isinstance(annotations, dict) else None
    if value is None:
        return False
    if value not in ("true", "false"):
        given = (
            f"the {_type_name(value).removeprefix('a ')} {value}"
            if not isinstance(value, str)
            else repr(value)
        )
        raise FieldError(
            f'must be "true" or "false" (a string: annotations are strings, quote it), not {given}',
            format_path(("metadata", "annotations", STRICT_ANNOTATION)),
        )
    return bool(value == "true")


def _targets(spec: Spec) -> tuple[dict[str, TargetSelector], list[FieldError]]:
    targets: dict[str, TargetSelector] = {}
    problems = []
    for role_name in ROLES:
        role: Role | None = getattr(spec, role_name)
        if role is None or role.target is None:
            continue
        field = f"spec.{role_name}.target"
        given = {k: v for k, v in role.target.model_dump().items() if v}
        kind = given.get("kind", "")
        try:
            if not given:
                raise FieldError(
                    "selects nothing in particular; give a kind and a name or a selector", field
                )
            if kind.isalpha() and kind not in WORKLOAD_KINDS:
                raise FieldError(
                    f"{kind} is not a workload kind this function edits;"
                    f" known kinds: {', '.join(WORKLOAD_KINDS)}",
                    f"{field}.kind",
                )
            targets[role_name] = TargetSelector.compile(given, field)
        except FieldError as exc:
            problems.append(exc)
    return targets, problems


def load(who: Identity, data: Any, config: Config) -> ModelService | list[FieldError]:
    """Validate one ModelService; every problem found is returned with its field path."""
    name, namespace = who.name, who.namespace
    if not isinstance(data, dict):
        return [FieldError(f"must be a mapping, not {_type_name(data)}")]
    try:
        manifest = Manifest.model_validate({"spec": data.get("spec")})
    except ValidationError as exc:
        problems: dict[str, FieldError] = {}
        for error in exc.errors():
            # A union reports one error per member; keep the first per field.
            loc = tuple(p for p in error["loc"] if not _is_union_tag(p))
            path = format_path(loc)
            problems.setdefault(path, FieldError(_describe(error), path))
        # A union member that had the value's type says more than the one that did not
        # (`prefetch` is a boolean or a mapping: for a mapping, what is wrong inside it).
        return [
            p for p in problems.values() if not any(q.startswith(p.path + ".") for q in problems)
        ]
    spec = manifest.spec
    targets, problems_list = _targets(spec)
    artifacts = spec.modelArtifacts
    options = Options(
        mount_root=config.mountRoot,
        auth_secret_name=artifacts.authSecretName or "",
        size=artifacts.size,
        read_only=config.readOnly,
        medium=config.emptyDirMedium,
        token_key=config.tokenSecretKey,
        token_optional=config.tokenOptional,
        pull_policy=artifacts.pullPolicy or config.imagePullPolicy,
        hf_endpoint=config.hfEndpoint,
        ephemeral_request=config.ephemeralStorageRequest,
        endpoint=artifacts.endpoint or "",
        region=artifacts.region or "",
        account=artifacts.account or "",
        credentials=artifacts.credentials or "",
        prefetch=artifacts.prefetch_options is not None,
    )
    source: Source | None = None
    try:
        source = parse_uri(artifacts.uri, options)
    except FieldError as exc:
        problems_list.append(exc)
    sanitized = ""
    strict = False
    try:
        strict = _strict(data)
    except FieldError as exc:
        problems_list.append(exc)
    try:
        sanitized = sanitize(spec.routing.modelName, "spec.routing.modelName")
        workloads = {sanitize(f"{name}-{role}", "metadata.name") for role in ROLES}
        if len(workloads) < len(ROLES) and spec.decode is not None and spec.prefill is not None:
            raise FieldError(
                f"{name!r} is too long: {name}-decode and {name}-prefill are both cut to"
                f" the 63 characters {workloads.pop()!r}; shorten the name",
                "metadata.name",
            )
    except FieldError as exc:
        problems_list.append(exc)
    adapters = None
    if source is not None and artifacts.adapters:
        parsed = adapter_sources.parse(
            artifacts.adapters, artifacts.lora, source, spec.routing.modelName
        )
        if isinstance(parsed, list):
            problems_list += parsed
        else:
            adapters = parsed
    cache = None
    try:
        cache = compile_cache.parse(artifacts.compileCache) if artifacts.compileCache else None
    except FieldError as exc:
        problems_list.append(exc)
    if problems_list or source is None:
        return problems_list
    original = who.original_name if who.original_name != name else ""
    return ModelService(
        name,
        namespace,
        spec,
        source,
        sanitized,
        original,
        who.from_config,
        targets,
        strict,
        adapters,
        cache,
    )


def _is_union_tag(part: int | str) -> bool:
    # pydantic names union members in the location ("str", "int", "function-after[...]").
    return isinstance(part, str) and (
        part in ("str", "int", "float", "bool", "list[str]", "dict[str,any]", "Prefetch")
        or "[" in part
    )
