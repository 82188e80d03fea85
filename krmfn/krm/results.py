"""Structured results, as the KRM functions specification defines them.

Records here and in the rest of krmfn are NamedTuples or plain classes with `__slots__`,
not dataclasses: a dataclass costs about half a millisecond to define, and thirty of them
were 14 ms of every run's start-up.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

from krmfn.krm.errors import FieldError


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class ResourceRef(NamedTuple):
    api_version: str
    kind: str
    name: str
    namespace: str = ""

    def to_wire(self) -> dict[str, str]:
        ref = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name}
        if self.namespace:
            ref["namespace"] = self.namespace
        return ref

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.api_version}/{self.kind}/{ns}{self.name}"

    def describe(self) -> str:
        """`Kind namespace/name`, as messages name a resource."""
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"

    @classmethod
    def of(cls, data: Any) -> ResourceRef | None:
        """The reference to an object given as plain data (a function config, say)."""
        if not isinstance(data, dict):
            return None
        metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        name, namespace = (metadata or {}).get("name"), (metadata or {}).get("namespace")
        return cls(
            str(data.get("apiVersion") or ""),
            str(data.get("kind") or ""),
            str(name or ""),
            str(namespace or ""),
        )


class Result(NamedTuple):
    message: str
    severity: Severity
    resource: ResourceRef | None = None
    field_path: str = ""
    file_path: str = ""
    file_index: int | None = None

    @classmethod
    def of(
        cls,
        error: FieldError,
        resource: ResourceRef | None = None,
        file: tuple[str, int | None] = ("", None),
        prefix: str = "",
    ) -> Result:
        """The error result for a FieldError, about `resource` (read from `file`)."""
        return cls(prefix + error.message, Severity.ERROR, resource, error.path, *file)

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "severity": self.severity.value}
        if self.resource is not None:
            out["resourceRef"] = self.resource.to_wire()
        if self.field_path:
            out["field"] = {"path": self.field_path}
        if self.file_path:
            file: dict[str, Any] = {"path": self.file_path}
            if self.file_index is not None:
                file["index"] = self.file_index
            out["file"] = file
        return out

    def human(self) -> str:
        """One stderr line; kustomize shows only stderr, kpt only its first lines."""
        parts = [f"[{self.severity.value}]"]
        if self.resource is not None:
            parts.append(str(self.resource))
        if self.field_path:
            parts.append(f"{self.field_path}:")
        elif self.resource is not None:
            parts[-1] += ":"
        parts.append(self.message)
        return " ".join(parts)


_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def stderr_lines(results: list[Result]) -> list[str]:
    """Errors first, then warnings: kpt keeps only the first few stderr lines."""
    shown = [r for r in results if r.severity is not Severity.INFO]
    shown.sort(key=lambda r: _ORDER[r.severity])
    return [r.human().replace("\n", " ") for r in shown]
