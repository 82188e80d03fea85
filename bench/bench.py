"""Benchmark of krmfn on kpt-style ResourceLists, against libyaml on the same bytes.

    python bench/bench.py                  # 100, 1,000, 5,000, 20,000 items; a few minutes
    python bench/bench.py --quick          # 100 and 1,000 items only (CI smoke run)
    python bench/bench.py --image-startup  # only the container image's start-up
    python bench/bench.py --sizes 5000 --repeat 3 --profile --importtime

Start-up is measured as a user meets it: the image (localhost/krmfn:dev) run by podman as
kustomize and kpt run it, on one ModelService and its two Deployments, paired with the same
`podman run` of the same image with `--entrypoint true` (the container's own start, the
floor). Without podman or the image that part is skipped with a message, not failed.

For each size it generates a list (bench/generate.py), runs the function as a subprocess
(`python -m krmfn`, stdin from a file, stdout to a file) and, interleaved with it, the
floor: a subprocess of the same python that reads stdin, decodes it, runs
`yaml.load(text, Loader=yaml.CSafeLoader)` and writes the text to stdout. Both pay the
same interpreter start-up, read and write; the ratio is function / floor. Wall times are
medians; peak memory is the child's own ru_maxrss (os.wait4), the largest of the runs.

Every function run is checked: exit status 0, every target Deployment has the
`model-storage` volume, and every other item, the text before the items and the item
count came back byte for byte (the list is cut on the `- ` lines at column 0 that the
generator wrote). A failed check makes the script exit 1.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import Generated, generate, one_service, split_items

REPO = Path(__file__).resolve().parent.parent

FLOOR = (
    "import sys, yaml\n"
    "text = sys.stdin.buffer.read().decode('utf-8')\n"
    "yaml.load(text, Loader=yaml.CSafeLoader)\n"
    "sys.stdout.write(text)\n"
)
FULL_SIZES = (100, 1000, 5000, 20000)
QUICK_SIZES = (100, 1000)
# The targets, all ratios measured in one run.
TARGET_RATIO = 1.5
TARGET_GROWTH = 4.4
TARGET_RSS_MB = 150
TARGET_IMAGE_STARTUP = 2.2
STARTUP_ROUNDS = 21

IMAGE = "localhost/krmfn:dev"
# As kustomize and kpt run a function (no network, nobody, no privilege gain), with a
# read-only root and no writable /tmp or /run on top: the flags tests/test_container.py uses.
PODMAN_RUN = [
    "podman", "run", "--rm", "-i", "--network", "none", "--user", "nobody", "--read-only",
    "--read-only-tmpfs=false", "--security-opt=no-new-privileges",
]  # fmt: skip
CONTAINERS_CONF = REPO / "tests" / "container" / "containers.conf"


def paired(measured: list[float], floor: list[float]) -> float:
    """Median of the ratios of back-to-back pairs: other load on the machine then slows
    both sides of a pair alike."""
    return statistics.median(m / f for m, f in zip(measured, floor, strict=True))


@dataclass
class Run:
    wall: float
    rss_mb: float
    returncode: int
    stdout: bytes
    stderr: bytes


def snapshot(workdir: Path) -> Path:
    """A copy of krmfn/ as it is when the benchmark starts, put first on the children's
    path: others may edit the work tree during a run of several minutes, and every row
    must measure the same code."""
    dest = workdir / "src"
    shutil.copytree(REPO / "krmfn", dest / "krmfn", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def child_env(workdir: Path) -> dict[str, str]:
    """Children import the snapshot, and write and reuse bytecode as an installed package
    has .pyc files, even where the caller's environment says PYTHONDONTWRITEBYTECODE (this
    machine's does: every krmfn start would compile krmfn from source). The caches go to
    the temp directory, not into the work tree."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    paths = [str(workdir / "src"), os.environ.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


# A child's ru_maxrss counts the pages it shares with its parent between fork and exec:
# forked from this process, which holds the generated inputs and in-process parses, every
# child would "peak" at this process's size. So a small launcher (python -S, no site) forks
# and execs each measured command, times it, and reports its wait4 rusage on a pipe.
LAUNCHER = """\
import os, sys, time
report, command = int(sys.argv[1]), sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(command[0], command)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
os.write(report, f"{wall} {usage.ru_maxrss}".encode())
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_child(argv: list[str], stdin: Path, env: dict[str, str]) -> Run:
    """One command with stdin from a file: its wall time and its own peak RSS."""
    read_end, write_end = os.pipe()
    with (
        open(stdin, "rb") as fin,
        tempfile.TemporaryFile() as fout,
        tempfile.TemporaryFile() as ferr,
    ):
        launcher = [sys.executable, "-S", "-c", LAUNCHER, str(write_end), *argv]
        proc = subprocess.Popen(
            launcher, stdin=fin, stdout=fout, stderr=ferr, env=env, pass_fds=(write_end,)
        )
        os.close(write_end)
        with os.fdopen(read_end, "rb") as report:
            measured = report.read().decode()
        proc.wait()
        wall, maxrss_kb = measured.split()
        fout.seek(0)
        ferr.seek(0)
        # ru_maxrss is in kilobytes on Linux.
        return Run(float(wall), int(maxrss_kb) / 1024, proc.returncode, fout.read(), ferr.read())


def check(gen: Generated, run: Run) -> list[str]:
    """What is wrong with one function output; empty if all is right."""
    problems = []
    if run.returncode != 0:
        stderr = run.stderr.decode("utf-8", "replace").strip()
        problems.append(f"exit status {run.returncode}: {stderr[:500]}")
    out = run.stdout.decode("utf-8")
    head_in, items_in, _ = split_items(gen.text)
    try:
        head_out, items_out, _ = split_items(out)
    except ValueError:
        return [*problems, "output has no items section"]
    if head_out != head_in:
        problems.append("the text before the items changed")
    if len(items_out) != len(items_in):
        problems.append(f"{len(items_in)} items came in, {len(items_out)} went out")
        return problems
    changed = [
        i
        for i, (a, b) in enumerate(zip(items_in, items_out, strict=True))
        if i not in gen.target_positions and a != b
    ]
    if changed:
        problems.append(f"{len(changed)} untouched items changed, first at position {changed[0]}")
    for position in sorted(gen.target_positions):
        (item,) = yaml.load(items_out[position], Loader=yaml.CSafeLoader)
        volumes = item["spec"]["template"]["spec"].get("volumes") or []
        if not any(v.get("name") == "model-storage" for v in volumes):
            name = f"{item['metadata'].get('namespace')}/{item['metadata']['name']}"
            problems.append(f"target Deployment {name} has no model-storage volume")
    return problems


def machine() -> str:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import version

    return (
        f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.release()};"
        f" Python {platform.python_version()} ({environment()});"
        f" PyYAML {yaml.__version__} (libyaml: {yaml.__with_libyaml__}),"
        f" ruamel.yaml {version('ruamel.yaml')}, pydantic {version('pydantic')};"
        f" krmfn at {revision()}"
    )


def environment() -> str:
    """This Python's environment in words, without its paths (they are one machine's, often
    temporary, and the line goes into READMEs)."""
    from importlib.metadata import PackageNotFoundError, distribution, distributions

    kind = "a venv" if sys.prefix != sys.base_prefix else "no venv"
    names = {str(d.metadata["Name"]).lower() for d in distributions()}
    try:
        direct = json.loads(distribution("krmfn").read_text("direct_url.json") or "{}")
    except PackageNotFoundError:
        install = "krmfn not installed"
    else:
        editable = direct.get("dir_info", {}).get("editable", False)
        install = "krmfn installed editable" if editable else "krmfn installed"
    return f"{kind}, {len(names)} distributions, {install}"


def load() -> str:
    """The machine's load average: others' runs share it, and the paired ratios only
    partly cancel their effect."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def revision() -> str:
    """The commit the snapshot of krmfn/ was taken from, and whether it had edits."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        dirty = git("status", "--porcelain", "--", "krmfn")
        commit = git("rev-parse", "--short", "HEAD")
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"{commit}{' + uncommitted edits' if dirty else ''}"


def console_scripts() -> list[tuple[str, list[str]]]:
    """The installed `krmfn` script, and the one PATH finds if that is another file
    (a pyenv shim, say, which execs bash and pyenv before python). The labels name no
    paths, so that the tables can be copied into a README."""
    found = []
    script = Path(sysconfig.get_path("scripts")) / "krmfn"
    if script.exists():
        found.append(("`krmfn` (this Python's console script)", [str(script)]))
    on_path = shutil.which("krmfn")
    if on_path and Path(on_path).resolve() != script.resolve():
        found.append(("`krmfn` found on PATH (another file, a shim say)", [on_path]))
    return found


IMPORT_YAML = '`python -c "import yaml"`'
MODULE = "`python -m krmfn`"


def one_service_input(workdir: Path, templates: bool) -> tuple[Generated, Path]:
    """The start-up input, one ModelService and its two Deployments, in a file."""
    gen = generate(0, 1, templates)
    assert gen.text == one_service(templates)
    path = workdir / "one-service.yaml"
    path.write_text(gen.text)
    return gen, path


def startup(workdir: Path, templates: bool, rounds: int) -> tuple[float, list[str], list[str]]:
    """The bare processes' start-up table, as information (no target); returns
    (python -m krmfn / import yaml, rows, problems).

    Each round runs every command once, back to back; a command's ratio is the median
    over rounds of its time / the same round's `import yaml` time."""
    gen, path = one_service_input(workdir, templates)
    py = sys.executable
    commands: list[tuple[str, list[str], bool]] = [
        ('`python -c "pass"`', [py, "-c", "pass"], False),
        (IMPORT_YAML, [py, "-c", "import yaml"], False),
        (MODULE, [py, "-m", "krmfn"], True),
        *[(label, argv, True) for label, argv in console_scripts()],
    ]
    env = child_env(workdir)
    walls: dict[str, list[float]] = {label: [] for label, _, _ in commands}
    rss: dict[str, float] = {}
    problems: list[str] = []
    for _ in range(rounds + 1):  # the first round warms caches and is dropped
        for label, argv, is_function in commands:
            run = run_child(argv, path, env)
            walls[label].append(run.wall)
            rss[label] = max(rss.get(label, 0.0), run.rss_mb)
            if is_function:
                problems += [f"{label}: {p}" for p in check(gen, run)]
    ratios = {label: paired(walls[label][1:], walls[IMPORT_YAML][1:]) for label in walls}
    rows = [
        "| command | median wall ms | x `import yaml` (paired) | max RSS MB |",
        "|---|---:|---:|---:|",
    ]
    for label, _, _ in commands:
        rows.append(
            f"| {label} | {statistics.median(walls[label][1:]) * 1000:.0f}"
            f" | {ratios[label]:.2f} | {rss[label]:.0f} |"
        )
    return ratios[MODULE], rows, sorted(set(problems))


def podman_env() -> dict[str, str]:
    """podman's environment: the settings this kind of sandboxed machine needs, as in the
    tests, unless the caller chose others."""
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return env


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args],
        capture_output=True,
        text=True,
        check=False,
        env=podman_env(),
        stdin=subprocess.DEVNULL,
    )


# Every krmfn module with its digest, run by the image's Python and by this one on the
# snapshot, to say whether the image holds the code the rest of the tables measure.
MODULES = (
    "import hashlib, pathlib, krmfn\n"
    "root = pathlib.Path(krmfn.__file__).parent\n"
    "for p in sorted(root.rglob('*.py')):\n"
    "    print(p.relative_to(root).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest())\n"
)


def image_source(image: str, workdir: Path) -> str:
    """Whether the image's krmfn modules are the snapshot's, byte for byte."""
    inside = podman(*PODMAN_RUN[1:], "--entrypoint", "python3", image, "-c", MODULES)
    here = subprocess.run(
        [sys.executable, "-c", MODULES],
        capture_output=True,
        text=True,
        check=False,
        env=child_env(workdir),
    )
    if inside.returncode or here.returncode:
        return "none found (is this a krmfn image?)"
    if inside.stdout == here.stdout:
        return f"the same as krmfn/ at {revision()}"
    return (
        f"NOT the same as krmfn/ at {revision()}: the image was built from other code"
        " (bash scripts/build-image.sh rebuilds it from this work tree)"
    )


@dataclass
class ImageStartup:
    """The image's start-up: krmfn on one ModelService and the same `podman run` of the
    same image running `true`, back to back, round after round."""

    image: str
    about: str
    krmfn: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return paired(self.krmfn, self.floor)


def image_startup(workdir: Path, templates: bool, rounds: int, image: str) -> ImageStartup | str:
    """The image's start-up, or why it could not be measured (no podman, no image, or a
    podman that cannot run even `true` in it: this machine's set-up, not krmfn's fault)."""
    if shutil.which("podman") is None:
        return "podman is not installed: bash scripts/ci-container-deps.sh installs it"
    found = podman("image", "inspect", "--format", "{{.Id}} {{.Created}}", image)
    if found.returncode:
        if podman("image", "exists", image).returncode == 1:
            return f"no image {image}: bash scripts/build-image.sh builds it"
        return f"podman cannot inspect {image}: {found.stderr.strip()[:300]}"
    gen, path = one_service_input(workdir, templates)
    env = podman_env()
    krmfn = [*PODMAN_RUN, image]
    floor = [*PODMAN_RUN, "--entrypoint", "true", image]
    warm = run_child(floor, path, env)
    if warm.returncode:
        stderr = warm.stderr.decode("utf-8", "replace").strip()
        return f"podman cannot run `true` in {image}: {stderr[:300]}"
    image_id, created = found.stdout.split(maxsplit=1)
    version = podman("version", "--format", "{{.Client.Version}}").stdout.strip()
    about = (
        f"{image} (id {image_id[:12]}, created {created.strip()[:19]}), podman {version};"
        f" krmfn modules in it: {image_source(image, workdir)}"
    )
    result = ImageStartup(image, about)
    # One untimed round, just before the timed ones: page cache, podman's own state.
    run_child(krmfn, path, env)
    run_child(floor, path, env)
    for _ in range(rounds):
        run = run_child(krmfn, path, env)
        result.krmfn.append(run.wall)
        result.problems += check(gen, run)
        run = run_child(floor, path, env)
        result.floor.append(run.wall)
        if run.returncode:
            result.problems.append(f"`true` in the image exited {run.returncode}")
    result.problems = sorted(set(result.problems))
    return result


def image_table(result: ImageStartup) -> list[str]:
    runs = f"`{' '.join(PODMAN_RUN)}`"
    return [
        f"| {runs} ... | median wall ms | x `true` (paired) |",
        "|---|---:|---:|",
        f"| `{result.image}` (krmfn on one ModelService and its two Deployments)"
        f" | {statistics.median(result.krmfn) * 1000:.0f} | {result.ratio:.2f} |",
        f"| `--entrypoint true {result.image}` (the container's own start, the floor)"
        f" | {statistics.median(result.floor) * 1000:.0f} | 1.00 |",
    ]


@dataclass
class Size:
    gen: Generated
    megabytes: float
    function: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)
    compose: list[float] = field(default_factory=list)
    function_rss: float = 0.0
    floor_rss: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return paired(self.function, self.floor)


def measure(
    deployments: int, repeat: int, workdir: Path, templates: bool, config_maps: int
) -> Size:
    gen = generate(deployments, templates=templates, config_maps=config_maps)
    path = workdir / f"list-{deployments}.yaml"
    path.write_text(gen.text)
    size = Size(gen, len(gen.text.encode()) / 1e6)
    function = [sys.executable, "-m", "krmfn"]
    floor = [sys.executable, "-c", FLOOR]
    env = child_env(workdir)
    # One untimed round fills the page cache and the bytecode caches.
    run_child(function, path, env)
    run_child(floor, path, env)
    for _ in range(repeat):
        run = run_child(function, path, env)
        size.function.append(run.wall)
        size.function_rss = max(size.function_rss, run.rss_mb)
        size.problems += check(gen, run)
        run = run_child(floor, path, env)
        size.floor.append(run.wall)
        size.floor_rss = max(size.floor_rss, run.rss_mb)
        if run.stdout != gen.text.encode():
            size.problems.append("the floor did not copy its input")
        start = time.perf_counter()
        yaml.compose(gen.text, Loader=yaml.CSafeLoader)
        size.compose.append(time.perf_counter() - start)
    size.problems = sorted(set(size.problems))
    return size


def table(sizes: list[Size]) -> list[str]:
    rows = [
        "| items | Deployments + ModelServices + targets (+ ConfigMaps) | MB | function s | floor s"
        " | function / floor (paired) | in-process compose s | function max RSS MB"
        " | floor max RSS MB | runs |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in sizes:
        g = s.gen
        rows.append(
            f"| {g.items:,} | {g.deployments:,} + {g.services} + {len(g.targets)}"
            f"{f' + {g.config_maps:,}' if g.config_maps else ''}"
            f" | {s.megabytes:.2f} | {statistics.median(s.function):.3f}"
            f" | {statistics.median(s.floor):.3f} | {s.ratio:.2f}"
            f" | {statistics.median(s.compose):.3f} | {s.function_rss:.0f}"
            f" | {s.floor_rss:.0f} | {len(s.function)} |"
        )
    return rows


def verdicts(sizes: list[Size], image: ImageStartup | str, bare: float | None) -> list[str]:
    by = {s.gen.deployments: s for s in sizes}
    lines = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    if isinstance(image, str):
        lines.append(f"- start-up of the image, one ModelService: not measured, {image}")
    else:
        lines.append(
            f"- start-up of the image, one ModelService: {image.ratio:.2f} x the same image"
            f" running `true` (target <= {TARGET_IMAGE_STARTUP}):"
            f" {verdict(image.ratio <= TARGET_IMAGE_STARTUP)}"
        )

    five = by.get(5000)
    if five:
        lines.append(
            f"- wall time at 5,000: {five.ratio:.2f} x the floor (target <= {TARGET_RATIO}):"
            f" {verdict(five.ratio <= TARGET_RATIO)}"
        )
        lines.append(
            f"- peak RSS at 5,000: {five.function_rss:.0f} MB (target <= {TARGET_RSS_MB} MB):"
            f" {verdict(five.function_rss <= TARGET_RSS_MB)}"
        )
    if five and 20000 in by:
        growth = statistics.median(by[20000].function) / statistics.median(five.function)
        lines.append(
            f"- 20,000 / 5,000 wall time: {growth:.2f} (target <= {TARGET_GROWTH}):"
            f" {verdict(growth <= TARGET_GROWTH)}"
        )
    if bare is not None:
        lines.append(
            f"- start-up of the bare process, one ModelService: {bare:.2f} x `import yaml`"
            " (information, no target: pydantic stays, see bench/README.md)"
        )
    return lines


def garbage_collection(run: Callable[[], object]) -> str:
    """Wall time of `run` and the part of it spent in the cyclic garbage collector, which
    cProfile charges to whatever function happened to allocate when a collection began."""
    spent = [0.0, 0.0, 0.0]
    count = [0, 0, 0]
    began = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            spent[info["generation"]] += time.perf_counter() - began[0]
            count[info["generation"]] += 1

    gc.collect()
    gc.callbacks.append(callback)
    start = time.perf_counter()
    try:
        run()
    finally:
        wall = time.perf_counter() - start
        gc.callbacks.remove(callback)
    gc.collect()
    gc.disable()
    start = time.perf_counter()
    try:
        run()
    finally:
        without = time.perf_counter() - start
        gc.enable()
    per_generation = ", ".join(f"generation {g}: {count[g]} in {spent[g]:.2f} s" for g in range(3))
    return (
        f"{wall:.2f} s, of which {sum(spent):.2f} s in the garbage collector"
        f" ({per_generation}); {without:.2f} s with the collector disabled"
    )


def profile(workdir: Path, deployments: int, templates: bool, config_maps: int, top: int) -> None:
    """Where the function (the snapshot) spends its time, in this process."""
    sys.path.insert(0, str(workdir / "src"))
    from krmfn.krm import run
    from krmfn.processor import ModelArtifactsFunction

    function = ModelArtifactsFunction()
    raw = generate(deployments, templates=templates, config_maps=config_maps).text.encode()
    run(function, raw)  # imports and caches out of the profile
    print(f"\n### In-process, {deployments:,} Deployments\n")
    print("`krm.run`: " + garbage_collection(lambda: run(function, raw)))
    profiler = cProfile.Profile()
    profiler.enable()
    run(function, raw)
    profiler.disable()
    for order in ("tottime", "cumulative"):
        buf = io.StringIO()
        stats = pstats.Stats(profiler, stream=buf).strip_dirs().sort_stats(order)
        stats.print_stats(top)
        print(f"\n### cProfile, {deployments:,} Deployments, top {top} by {order}\n")
        print("```")
        print(buf.getvalue().strip())
        print("```")


_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def importtime(workdir: Path, templates: bool, top: int) -> None:
    """`python -X importtime -m krmfn` on the one-ModelService list, biggest first."""
    _, path = one_service_input(workdir, templates)
    env = child_env(workdir)
    for _ in range(2):  # the first run writes the bytecode caches
        with open(path, "rb") as fin:
            proc = subprocess.run(
                [sys.executable, "-X", "importtime", "-m", "krmfn"],
                stdin=fin,
                capture_output=True,
                check=False,
                env=env,
            )
    rows = []
    for line in proc.stderr.decode().splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            depth = len(match.group(3)) // 2
            rows.append((int(match.group(1)), int(match.group(2)), depth, match.group(4)))
    total = sum(r[0] for r in rows)
    print(f"\n### `python -X importtime -m krmfn`: {total / 1000:.1f} ms of imports\n")
    print("Top-level imports by cumulative time:\n")
    print("| module | cumulative ms |")
    print("|---|---:|")
    for _, cumulative, depth, name in sorted(rows, key=lambda r: -r[1]):
        if depth == 0 and cumulative >= 1000:
            print(f"| {name} | {cumulative / 1000:.1f} |")
    print(f"\nModules by self time (top {top}):\n")
    print("| module | self ms |")
    print("|---|---:|")
    for self_us, _, _, name in sorted(rows, key=lambda r: -r[0])[:top]:
        print(f"| {name} | {self_us / 1000:.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        help="comma-separated numbers of unrelated Deployments (default: 100,1000,5000,20000)",
    )
    parser.add_argument(
        "--repeat", type=int, help="timed runs per size (default: 5, and 3 at 20,000 and up)"
    )
    parser.add_argument("--quick", action="store_true", help="only 100 and 1,000 items")
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=5000,
        metavar="N",
        help="also cProfile the function in-process on N Deployments (default 5,000)",
    )
    parser.add_argument(
        "--importtime", action="store_true", help="also break down the function's imports"
    )
    parser.add_argument(
        "--no-templates",
        action="store_true",
        help="ModelService args without {{ }} actions (templating not exercised)",
    )
    parser.add_argument(
        "--image-startup",
        action="store_true",
        help="only the start-up of the container image against the same image running `true`",
    )
    parser.add_argument(
        "--image", default=IMAGE, help=f"the image whose start-up is measured (default {IMAGE})"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=STARTUP_ROUNDS,
        help=f"start-up rounds after the warm-up one (default {STARTUP_ROUNDS})",
    )
    parser.add_argument(
        "--config-maps",
        type=int,
        default=0,
        metavar="N",
        help="also a ConfigMap ending in a block scalar after every N Deployments",
    )
    args = parser.parse_args()
    if args.sizes:
        sizes = tuple(int(s.replace("_", "")) for s in args.sizes.split(","))
    else:
        sizes = QUICK_SIZES if args.quick else FULL_SIZES
    if args.image_startup:
        sizes = ()
    templates = not args.no_templates

    print("## krmfn benchmark\n")
    print(f"Machine: {machine()}\n")
    print(f"Load average (1, 5, 15 min) at the start: {load()}\n")
    problems: list[str] = []
    bare = None
    measured: list[Size] = []
    with tempfile.TemporaryDirectory(prefix="krmfn-bench-") as tmp:
        workdir = Path(tmp)
        snapshot(workdir)
        image = image_startup(workdir, templates, args.rounds, args.image)
        print(
            f"Start-up of the image on one ModelService and its two Deployments,"
            f" median of {args.rounds} paired rounds:\n"
        )
        if isinstance(image, str):
            print(f"Skipped: {image}.")
        else:
            problems += [f"image start-up: {p}" for p in image.problems]
            print(f"Image: {image.about}\n")
            print("\n".join(image_table(image)))
        if not args.image_startup:
            bare, rows, startup_problems = startup(workdir, templates, args.rounds)
            problems += startup_problems
            print(
                "\nStart-up of the bare process (information), one ModelService and its two"
                f" Deployments, median of {args.rounds} rounds:\n"
            )
            print("\n".join(rows))
        for deployments in sizes:
            repeat = args.repeat or (3 if deployments >= 20000 else 5)
            size = measure(deployments, repeat, workdir, templates, args.config_maps)
            measured.append(size)
            problems += [f"{size.gen.items:,} items: {p}" for p in size.problems]
            print(f"\n(measured {size.gen.items:,} items)", file=sys.stderr, flush=True)
        if measured:
            print(
                "\nFunction (`python -m krmfn`) against the floor (a python subprocess doing"
                " read stdin + `yaml.load(text, Loader=yaml.CSafeLoader)` + write stdout),"
                " medians:\n"
            )
            print("\n".join(table(measured)))
        print("\nTargets:\n")
        print("\n".join(verdicts(measured, image, bare)))
        print(f"\nLoad average (1, 5, 15 min) at the end: {load()}")
        print("\nCorrectness: " + ("every check passed" if not problems else "FAILED"))
        for problem in problems:
            print(f"- {problem}")
        if args.importtime:
            importtime(workdir, templates, 15)
        if args.profile:
            profile(workdir, args.profile, templates, args.config_maps, 25)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
