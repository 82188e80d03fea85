"""Credentials written as literal values on a target workload, to warn about by name."""

from __future__ import annotations

from typing import Any

from krmfn.names import is_secret_name
from krmfn.paths import format_path
from krmfn.render import containers
from krmfn.workloads import all_pod_templates


def literal_secrets(obj: Any, kind: str) -> list[tuple[str, str, str]]:
    """(field path, container, env name) of env vars named like a credential that hold a
    literal value. Only names are returned: the values are never read into a message."""
    found = []
    for template in all_pod_templates(kind, obj):
        for list_name, index, container in containers(obj, template):
            env = container.get("env")
            for i, var in enumerate(env if isinstance(env, list) else []):
                name = var.get("name") if isinstance(var, dict) else None
                if isinstance(name, str) and is_secret_name(name) and var.get("value"):
                    path = format_path((*template.pod, list_name, index, "env", i, "value"))
                    found.append((path, str(container.get("name", "")), name))
    return found
