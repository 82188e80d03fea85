"""krmfn at its limits: memory at the 64 MiB input limit, and many targets of one
ModelService.

    python bench/limits.py                    # both, 3 runs each
    python bench/limits.py --memory --repeat 1
    python bench/limits.py --targets 3000

- Memory: 64 MiB of one-line ConfigMaps (about a million items), once with nothing to do
  and once with a ModelService and its Deployment at the top; the child's own peak RSS,
  against the target of 10x the input plus a fixed base (700 MB at the limit).
- Targets: one ModelService whose `target` selects N small Deployments; the median wall
  time per edited workload.

Each run is checked: exit status 0, every item back (the count of `- ` lines at column 0),
and for the targets every Deployment with the model volume.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import child_env, run_child, snapshot

HEADER = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"
LIMIT = 64 * 1024 * 1024
CONFIG_MAP = "- {apiVersion: v1, kind: ConfigMap, metadata: {name: c%07d}}\n"
SERVICE = """\
- apiVersion: llm-d.ai/v1alpha1
  kind: ModelService
  metadata: {name: opt}
  spec:
    routing: {modelName: facebook/opt-125m}
    modelArtifacts: {uri: "hf://facebook/opt-125m"}
    decode:
      target: {kind: Deployment, labelSelector: "role=decode"}
      containers: [{name: vllm, mountModelVolume: true}]
"""
DEPLOYMENT = """\
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: d%d, labels: {role: decode}}
  spec:
    selector: {matchLabels: {app: d%d}}
    template:
      metadata: {labels: {app: d%d}}
      spec: {containers: [{name: vllm, image: vllm}]}
"""


def one_line_items(with_work: bool) -> str:
    head = HEADER + (SERVICE + DEPLOYMENT % (0, 0, 0) if with_work else "")
    count = (LIMIT - len(head) - 1000) // len(CONFIG_MAP % 0)
    return head + "".join(CONFIG_MAP % i for i in range(count))


def targets(count: int) -> str:
    return HEADER + SERVICE + "".join(DEPLOYMENT % (i, i, i) for i in range(count))


def items(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.startswith("- "))


def run(text: str, repeat: int, workdir: Path, edited: int) -> tuple[float, float, list[str]]:
    """Median wall time, peak RSS (MB) and what went wrong over `repeat` runs."""
    source = workdir / "input.yaml"
    source.write_text(text)
    walls, peaks, problems = [], [], []
    for _ in range(repeat):
        done = run_child([sys.executable, "-m", "krmfn"], source, child_env(workdir))
        walls.append(done.wall)
        peaks.append(done.rss_mb)
        out = done.stdout.decode()
        if done.returncode != 0:
            problems.append(f"exit status {done.returncode}: {done.stderr.decode()[:300]}")
        if items(out.split("\nresults:", 1)[0]) != items(text):
            problems.append("items were lost")
        if out.count("name: model-storage") < edited:
            problems.append("a target was not edited")
    return statistics.median(walls), max(peaks), problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", action="store_true", help="only the 64 MiB runs")
    parser.add_argument("--targets", type=int, default=3000, help="targets (default 3,000)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="krmfn-limits-") as tmp:
        workdir = Path(tmp)
        snapshot(workdir)
        print("| case | input | median wall | peak RSS | target |\n|---|---|---|---|---|")
        for with_work in (False, True):
            text = one_line_items(with_work)
            wall, peak, found = run(text, args.repeat, workdir, 1 if with_work else 0)
            problems += found
            what = "a ModelService and a Deployment, then" if with_work else "nothing to do,"
            print(
                f"| {what} {items(text):,} one-line items | {len(text) / 2**20:.0f} MiB"
                f" | {wall:.1f} s | {peak:.0f} MB | < 700 MB: {'yes' if peak < 700 else 'NO'} |"
            )
        if not args.memory:
            text = targets(args.targets)
            wall, peak, found = run(text, args.repeat, workdir, args.targets)
            problems += found
            each = wall / args.targets * 1000
            print(
                f"| {args.targets:,} targeted Deployments | {len(text) / 2**10:.0f} KiB"
                f" | {wall:.1f} s ({each:.1f} ms each) | {peak:.0f} MB"
                f" | < 4 s: {'yes' if wall < 4 else 'NO'} |"
            )
    for problem in problems:
        print(f"- {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
