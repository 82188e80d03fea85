"""The function config: absent, kpt's ConfigMap of strings, or the typed object."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from krmfn.kinds import WORKLOAD_KINDS
from krmfn.krm.errors import FieldError
from krmfn.sources import DEFAULT_MOUNT_ROOT

CONFIG_API_VERSION = "krmfn.llm-d.ai/v1alpha1"
CONFIG_KIND = "ModelArtifacts"


class Config(BaseModel):
    """Every field, its default and both forms are documented in docs/config.md."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # _known_kinds checks them; the published schema says so too, for editors.
    kinds: tuple[str, ...] = Field(
        default=tuple(WORKLOAD_KINDS),
        json_schema_extra={
            "items": {"enum": list(WORKLOAD_KINDS), "type": "string"},
            "minItems": 1,
        },
    )
    strict: bool = False
    mountRoot: str = DEFAULT_MOUNT_ROOT
    readOnly: bool | None = None
    emptyDirMedium: Literal["", "Memory"] = ""
    tokenSecretKey: str = Field(default="HF_TOKEN", min_length=1)
    tokenOptional: bool = False
    imagePullPolicy: Literal["", "Always", "IfNotPresent", "Never"] = ""
    hfEndpoint: str = ""
    ephemeralStorageRequest: bool = True

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [k for k in kinds if k not in WORKLOAD_KINDS]
        if unknown or not kinds:
            raise ValueError(
                f"unknown workload kind {', '.join(unknown) or '(none given)'};"
                f" known kinds: {', '.join(WORKLOAD_KINDS)}"
            )
        return kinds

    @field_validator("mountRoot")
    @classmethod
    def _absolute(cls, root: str) -> str:
        if not root.startswith("/") or (root != "/" and root.endswith("/")) or "//" in root:
            raise ValueError(f"{root!r} must be an absolute path without a trailing '/'")
        if any(part in (".", "..") for part in root.split("/")):
            raise ValueError(f"{root!r} must not contain '.' or '..' segments")
        return root


_BOOLS = {"true": True, "false": False}
_BOOL_FIELDS = ("strict", "readOnly", "tokenOptional", "ephemeralStorageRequest")


def _from_strings(data: dict[str, Any]) -> dict[str, Any]:
    """kpt ConfigMap data (and `kpt fn eval -- k=v`) holds only strings."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            raise FieldError(f"must be a string in a ConfigMap, not {value!r}", f"data.{key}")
        if key == "kinds":
            out[key] = tuple(k.strip() for k in value.split(",") if k.strip())
        elif key in _BOOL_FIELDS:
            if value.lower() not in _BOOLS:
                raise FieldError(f"must be 'true' or 'false', not {value!r}", f"data.{key}")
            out[key] = _BOOLS[value.lower()]
        else:
            out[key] = value
    return out


def parse_config(function_config: Any) -> Config:
    if function_config is None:
        return Config()
    if not isinstance(function_config, dict):
        raise FieldError("functionConfig must be a mapping")
    kind = function_config.get("kind")
    prefix = "data"
    if kind == "ConfigMap":
        data = function_config.get("data") or {}
        if not isinstance(data, dict):
            raise FieldError("must be a mapping", "data")
        fields = _from_strings(data)
    elif kind == CONFIG_KIND and function_config.get("apiVersion") == CONFIG_API_VERSION:
        prefix = "spec"
        spec = function_config.get("spec") or {}
        if not isinstance(spec, dict):
            raise FieldError("must be a mapping", "spec")
        fields = dict(spec)
        if isinstance(fields.get("kinds"), list):
            fields["kinds"] = tuple(fields["kinds"])
    else:
        raise FieldError(
            f"functionConfig must be a ConfigMap or {CONFIG_API_VERSION} {CONFIG_KIND},"
            f" not {function_config.get('apiVersion')} {kind}"
        )
    try:
        return Config.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown field; known fields: {', '.join(_FIELDS)}"
        return _raise(message, f"{prefix}.{where}")


_FIELDS = tuple(Config.model_fields)


def _raise(message: str, path: str) -> Config:
    raise FieldError(message, path)
