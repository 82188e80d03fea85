"""Golden fixtures: `fixtures/<case>/` holds `input.yaml` (a ResourceList, or a YAML
stream when the case name starts with `stream-`), an optional `config.yaml` (the
functionConfig, appended to the list), and what the real CLI gave: `expected.yaml`
(stdout) and `expected.txt` (stderr, then the exit status).

Regenerate every expectation after a deliberate change, then review the diff:

    python -m tests.golden --update
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


@dataclass(frozen=True)
class Outcome:
    stdout: bytes
    stderr: bytes
    status: int

    def transcript(self) -> str:
        return self.stderr.decode() + f"exit status: {self.status}\n"


def cases(fixtures: Path = FIXTURES) -> list[Path]:
    return sorted(p for p in fixtures.iterdir() if (p / "input.yaml").is_file())


def is_stream(case: Path) -> bool:
    return case.name.startswith("stream-")


def fixture_input(case: Path) -> bytes:
    data = (case / "input.yaml").read_bytes()
    config = case / "config.yaml"
    if config.is_file():
        body = config.read_text().rstrip("\n").splitlines()
        data += b"functionConfig:\n" + "".join(f"  {line}\n" for line in body).encode()
    return data


def command(case: Path) -> list[str]:
    args = [sys.executable, "-m", "krmfn"]
    if is_stream(case):
        args.append("--stream")
        if (case / "config.yaml").is_file():
            args += ["--config", str(case / "config.yaml")]
    return args


def run_cli(args: list[str], data: bytes) -> Outcome:
    proc = subprocess.run(args, input=data, capture_output=True, check=False, cwd=ROOT)
    return Outcome(proc.stdout, proc.stderr, proc.returncode)


def run_case(case: Path, data: bytes | None = None) -> Outcome:
    if data is None:
        data = (case / "input.yaml").read_bytes() if is_stream(case) else fixture_input(case)
    return run_cli(command(case), data)


def update(fixtures: Path = FIXTURES) -> None:
    for case in cases(fixtures):
        outcome = run_case(case)
        (case / "expected.yaml").write_bytes(outcome.stdout)
        (case / "expected.txt").write_text(outcome.transcript())
        print(f"{case.name}: exit status {outcome.status}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python -m tests.golden --update")
    update()
