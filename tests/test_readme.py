"""The README is a newcomer's path, short enough to read: the reference lives in docs/.
Every relative link in the README, CONTRIBUTING.md and docs/ leads to a file of the
repository (and, with an anchor, to a heading of it); `krmfn --help` and the README name
every scheme the code supports."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from krmfn.sources import SCHEMES

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_LIMIT = 10_000  # bytes
DOCUMENTS = [
    README,
    ROOT / "CONTRIBUTING.md",
    ROOT / "CHANGELOG.md",
    *sorted((ROOT / "docs").glob("*.md")),
]

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
# [text](target) and [text](target "title"); images too.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def prose(text: str) -> str:
    """The text without fenced code blocks and code spans, where brackets are not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def relative_links(path: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(prose(path.read_text()))
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)  # https:, mailto:
    ]


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file."""
    out = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            text = heading.group(1).lower().replace("`", "")
            out.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return out


def test_the_readme_is_short() -> None:
    size = len(README.read_bytes())
    assert size < README_LIMIT, f"README.md is {size} bytes; move reference to docs/"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_of_the_repository(document: Path) -> None:
    broken = []
    for target in relative_links(document):
        location, _, anchor = target.partition("#")
        resolved = (document.parent / location).resolve() if location else document
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with that anchor in {resolved.name}")
    assert not broken, f"{document.relative_to(ROOT)}: {broken}"


def test_the_link_checker_sees_links() -> None:
    assert "docs/sources.md" in relative_links(README)
    assert "CONTRIBUTING.md" in relative_links(README)


def test_help_names_every_supported_scheme() -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "krmfn", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    missing = [scheme for scheme in SCHEMES if f"{scheme}://" not in help_text]
    assert not missing, help_text
    assert "docs/sources.md" in help_text


def test_the_readme_and_the_sources_doc_name_every_supported_scheme() -> None:
    for document in (README, ROOT / "docs" / "sources.md"):
        text = document.read_text()
        missing = [scheme for scheme in SCHEMES if f"`{scheme}://" not in text]
        assert not missing, f"{document.relative_to(ROOT)} does not name {missing}"


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    command = "bash scripts/test.sh"
    assert command in README.read_text()
    assert command in (ROOT / ".ci" / "run").read_text()
    for script in ("scripts/test.sh", "scripts/demo.sh"):
        assert f"bash {script}" in README.read_text()
        assert (ROOT / script).is_file()


@pytest.mark.parametrize("package", ["kpt-package", "kpt-prefetch"])
def test_the_kpt_examples_hold_no_subpackage(package: str) -> None:
    """A folder with a Kptfile inside a package is a subpackage: `kpt fn render` renders
    it too. Expected renders live beside the package."""
    root = ROOT / "examples" / package
    assert (root / "Kptfile").is_file()
    nested = [p for p in root.rglob("Kptfile") if p.parent != root]
    assert not nested, nested
    assert (ROOT / "examples" / f"{package}.expected" / "Kptfile").is_file()
