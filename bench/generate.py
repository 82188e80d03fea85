"""kpt-style ResourceLists for the benchmark, with the item spans known by construction.

Every item starts with `- ` at column 0 and no other line of the items section does, so
an output can be cut back into items (`split_items`) and compared span by span with the
input. Comments, quoted strings, flow collections and the orchestrators' annotations are
there on purpose: they are what makes a round trip slow and what must survive untouched.

Run alone it writes one list to stdout: `python bench/generate.py 5000 > list.yaml`.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
from dataclasses import dataclass, field

HEADER = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"
FUNCTION_CONFIG = """\
functionConfig:
  apiVersion: v1
  kind: ConfigMap
  metadata:
    name: function-input
    annotations:
      config.kubernetes.io/local-config: "true"
  data:
    kinds: Deployment
    strict: "true"
"""
# One ModelService (with a decode and a prefill Deployment) per this many Deployments, so
# that every size has the same mix and the 20,000/5,000 ratio measures linear growth.
DEPLOYMENTS_PER_SERVICE = 500
TEAMS = 37

_TOP_LEVEL_KEY = re.compile(r"^[A-Za-z]", re.MULTILINE)


def _kpt_annotations(path: str, index: int, ident: int) -> str:
    return (
        "    annotations:\n"
        f"      config.kubernetes.io/index: '{index}'\n"
        f"      config.kubernetes.io/path: '{path}'\n"
        f"      internal.config.kubernetes.io/index: '{index}'\n"
        f"      internal.config.kubernetes.io/path: '{path}'\n"
        f"      config.k8s.io/id: '{ident}'\n"
    )


def deployment(number: int, ident: int) -> str:
    """An unrelated Deployment: nothing in it concerns the function."""
    team = f"team-{number % TEAMS:02d}"
    name = f"web-{number:05d}"
    comment = f"# {team}/{name}.yaml: owned by {team}\n" if number % 4 == 0 else ""
    return (
        f"{comment}"
        "- apiVersion: apps/v1\n"
        "  kind: Deployment\n"
        "  metadata:\n"
        f"    name: {name}  # service {number}\n"
        f"    namespace: {team}\n"
        f"{_kpt_annotations(f'{team}/{name}.yaml', 0, ident)}"
        "  spec:\n"
        f"    replicas: {1 + number % 5}\n"
        "    selector:\n"
        "      matchLabels:\n"
        f"        app: {name}\n"
        "    template:\n"
        "      metadata:\n"
        "        labels:\n"
        f"          app: {name}\n"
        "      spec:\n"
        "        # pinned by the platform team\n"
        "        containers:\n"
        "        - name: app\n"
        f'          image: "registry.example.com/{name}:1.{number % 17}.{number % 7}"\n'
        f'          args: ["--shard={number % 8}"]\n'
        "          env:\n"
        "          - name: FEATURE_FLAGS\n"
        '            value: "on"  # YAML 1.1 reads on as true\n'
    )


def model_service(number: int, ident: int, templates: bool) -> str:
    name = f"llm-{number:03d}"
    namespace = f"ml-{number % 5}"
    if number % 2 == 0:
        artifacts = (
            "      uri: hf://facebook/opt-125m\n      authSecretName: hf-token\n      size: 20Gi\n"
        )
    else:
        artifacts = f"      uri: pvc://models-{number}/granite/3.3-2b  # read-only claim\n"
    first_arg = '"{{ .HFModelName }}"' if templates else "facebook/opt-125m"
    roles = "".join(
        f"    {role}:\n"
        f"      replicas: {replicas}\n"
        "      containers:\n"
        "      - name: vllm\n"
        "        mountModelVolume: true\n"
        "        args:\n"
        f"        - {first_arg}\n"
        for role, replicas in (("decode", 2), ("prefill", 1))
    )
    return (
        f"# {namespace}/{name}.yaml\n"
        "- apiVersion: llm-d.ai/v1alpha1\n"
        "  kind: ModelService\n"
        "  metadata:\n"
        f"    name: {name}\n"
        f"    namespace: {namespace}\n"
        f"{_kpt_annotations(f'{namespace}/{name}.yaml', 0, ident)}"
        "  spec:\n"
        "    routing:\n"
        '      # what clients send as "model"\n'
        "      modelName: facebook/opt-125m\n"
        "      ports:\n"
        "      - name: app_port\n"
        "        port: 8000\n"
        "    modelArtifacts:\n"
        f"{artifacts}"
        f"{roles}"
    )


def target(number: int, role: str, ident: int) -> str:
    """The decode or prefill Deployment of ModelService `number`, found by its name."""
    name = f"llm-{number:03d}-{role}"
    namespace = f"ml-{number % 5}"
    index = 1 if role == "decode" else 2
    return (
        "- apiVersion: apps/v1\n"
        "  kind: Deployment\n"
        "  metadata:\n"
        f"    name: {name}\n"
        f"    namespace: {namespace}\n"
        f"{_kpt_annotations(f'{namespace}/llm-{number:03d}.yaml', index, ident)}"
        "  spec:\n"
        "    replicas: 1\n"
        "    selector:\n"
        "      matchLabels:\n"
        f"        app: {name}  # the selector is immutable\n"
        "    template:\n"
        "      metadata:\n"
        "        labels:\n"
        f"          app: {name}\n"
        "      spec:\n"
        "        containers:\n"
        "        - name: vllm\n"
        "          image: ghcr.io/llm-d/llm-d:v0.2.0\n"
        "          args:\n"
        "          - --port\n"
        '          - "8000"\n'
        "          resources:\n"
        "            limits:\n"
        "              nvidia.com/gpu: 1  # one GPU per replica\n"
    )


@dataclass
class Generated:
    text: str
    deployments: int
    services: int
    config_maps: int = 0
    # Names (namespace/name) of the Deployments the function must rewrite.
    targets: list[str] = field(default_factory=list)
    # Positions, in item order, of those Deployments.
    target_positions: set[int] = field(default_factory=set)

    @property
    def items(self) -> int:
        return self.deployments + 3 * self.services + self.config_maps


def config_map(number: int, ident: int) -> str:
    """An unrelated ConfigMap whose last value is a literal block scalar, as an app's
    config file usually is: the item's end is then found by a different path."""
    team = f"team-{number % TEAMS:02d}"
    name = f"web-{number:05d}-conf"
    return (
        "- apiVersion: v1\n"
        "  kind: ConfigMap\n"
        "  metadata:\n"
        f"    name: {name}\n"
        f"    namespace: {team}\n"
        f"{_kpt_annotations(f'{team}/{name}.yaml', 0, ident)}"
        "  data:\n"
        "    nginx.conf: |\n"
        "      server {\n"
        f"        listen 8080;  # shard {number % 8}\n"
        "      }\n"
    )


def generate(
    deployments: int,
    services: int | None = None,
    templates: bool = True,
    config_maps: int = 0,
) -> Generated:
    """`deployments` unrelated Deployments plus `services` ModelServices (default: one per
    500 Deployments, at least one), each followed some items later by its two targets,
    as a kustomize build of many apps would interleave them; with `config_maps` N, also
    one ConfigMap after every N Deployments."""
    if services is None:
        services = max(1, deployments // DEPLOYMENTS_PER_SERVICE)
    result = Generated("", deployments, services)
    # before[i]: what comes just before unrelated Deployment i (i == deployments: at the end)
    before: list[list[tuple[str, int, str]]] = [[] for _ in range(deployments + 1)]
    for ms in range(services):
        share = deployments / services
        before[int((ms + 0.25) * share)].append(("ms", ms, ""))
        for role in ("decode", "prefill"):
            before[int((ms + 0.75) * share)].append(("target", ms, role))
    pieces = [HEADER]
    position = 0
    for slot, queued in enumerate(before):
        for what, ms, role in queued:
            if what == "ms":
                pieces.append(model_service(ms, position, templates))
            else:
                result.targets.append(f"ml-{ms % 5}/llm-{ms:03d}-{role}")
                result.target_positions.add(position)
                pieces.append(target(ms, role, position))
            position += 1
        if slot < deployments:
            pieces.append(deployment(slot, position))
            position += 1
            if config_maps and slot % config_maps == config_maps - 1:
                pieces.append(config_map(slot, position))
                position += 1
                result.config_maps += 1
    pieces.append(FUNCTION_CONFIG)
    result.text = "".join(pieces)
    return result


def one_service(templates: bool = True) -> str:
    """The start-up input: one ModelService and its two Deployments."""
    return generate(0, 1, templates).text


def split_items(text: str) -> tuple[str, list[str], str]:
    """(text before the first item, each item's text, text after the last item).

    An item's text runs from its own leading column-0 comment lines (or its `- ` line)
    to the start of the next item, so comments between items belong to the item after.
    The items section ends at the next top-level key (`functionConfig:`, `results:`).
    """
    start = text.index("\nitems:\n") + len("\nitems:\n")
    stop_match = _TOP_LEVEL_KEY.search(text, start)
    stop = stop_match.start() if stop_match else len(text)
    starts: list[int] = []
    pending: int | None = None
    offset = start
    for line in text[start:stop].splitlines(keepends=True):
        if line.startswith("#"):
            pending = offset if pending is None else pending
        elif line.startswith("- "):
            starts.append(offset if pending is None else pending)
            pending = None
        else:
            pending = None
        offset += len(line)
    bounds = [*starts, stop]
    items = [text[a:b] for a, b in itertools.pairwise(bounds)]
    return text[: bounds[0]], items, text[stop:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("deployments", type=int, help="number of unrelated Deployments")
    parser.add_argument("--services", type=int, help="ModelServices (default: 1 per 500)")
    parser.add_argument("--no-templates", action="store_true", help="no {{ }} in ModelService args")
    parser.add_argument(
        "--config-maps", type=int, default=0, metavar="N", help="a ConfigMap per N Deployments"
    )
    args = parser.parse_args()
    text = generate(args.deployments, args.services, not args.no_templates, args.config_maps).text
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
