"""krmfn run as an orchestrator runs it, on the ResourceLists the runtime cases build."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from typing import Any

import yaml

MODELSERVICE = {"apiVersion": "llm-d.ai/v1alpha1", "kind": "ModelService"}


class Rendered:
    def __init__(self, items: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
        self.items = items
        self.results = results

    def item(self, kind: str, name: str | None = None) -> dict[str, Any]:
        return next(
            i
            for i in self.items
            if i["kind"] == kind and (name is None or i["metadata"]["name"] == name)
        )

    def messages(self, severity: str) -> list[str]:
        return [r["message"] for r in self.results if r.get("severity") == severity]


def modelservice(
    uri: str,
    roles: tuple[str, ...],
    model_args: list[str] | None,
    **artifacts: Any,
) -> dict[str, Any]:
    """A ModelService named `llm` whose roles mark the `vllm` container; `model_args`
    (None: none, for a shell-launched container) go in front of the workload's args."""
    spec: dict[str, Any] = {"name": "vllm", "mountModelVolume": True}
    if model_args is not None:
        spec["args"] = model_args
    return {
        **MODELSERVICE,
        "metadata": {"name": "llm"},
        "spec": {
            "routing": {"modelName": "test/tiny"},
            "modelArtifacts": {"uri": uri, **artifacts},
            **{role: {"containers": [spec]} for role in roles},
        },
    }


def render(*items: dict[str, Any], config: dict[str, str] | None = None) -> Rendered:
    """The items through `python -m krmfn`, with krmfn's config as a ConfigMap. An error
    result fails the case, and so does a ModelService that applied to nothing."""
    resource_list: dict[str, Any] = {
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "items": list(items),
    }
    if config:
        resource_list["functionConfig"] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "krmfn"},
            "data": config,
        }
    text = yaml.safe_dump(resource_list)
    # KRMFN_RUNTIME_KRMFN runs the tier against another krmfn (an older checkout, say:
    # `env PYTHONPATH=<checkout> python -P -m krmfn`; the runtime script puts this checkout
    # first on the PYTHONPATH it exports).
    command = shlex.split(os.environ.get("KRMFN_RUNTIME_KRMFN", "")) or [
        sys.executable,
        "-m",
        "krmfn",
    ]
    done = subprocess.run(command, input=text.encode(), capture_output=True, check=False)
    out = yaml.safe_load(done.stdout)
    rendered = Rendered(out["items"], out.get("results") or [])
    errors = rendered.messages("error")
    assert done.returncode == 0 and not errors, (done.stderr.decode(), errors)
    applied = [m for m in rendered.messages("info") if m.startswith("applied ")]
    assert applied, rendered.results
    return rendered
