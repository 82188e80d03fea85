"""Every golden fixture through the real CLI, compared byte for byte; then run again on
its own output, which must change nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.golden import (
    FIXTURES,
    cases,
    command,
    fixture_input,
    is_stream,
    run_case,
    run_cli,
    update,
)

CASES = cases()
# A case folder holds its input, maybe a functionConfig, and the two expectations.
INPUTS = {"input.yaml", "config.yaml"}
EXPECTATIONS = {"expected.yaml", "expected.txt"}


def strip_results(text: str) -> str:
    """The output without the results this run appended, as the next orchestrator
    step would send it back (kpt and kustomize do not feed results back in)."""
    root = yaml.compose(text, Loader=yaml.CSafeLoader)
    for key, value in root.value:
        if key.value == "results":
            start, end = key.start_mark.index, value.end_mark.index
            if root.flow_style:
                start = text.rindex(",", 0, start)
            return text[:start] + text[end:].lstrip(" ") if root.flow_style else text[:start]
    return text


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Path) -> None:
    outcome = run_case(case)
    # Bytes, not text: reading text would turn a CR or CRLF file's line ends into LF.
    assert outcome.stdout == (case / "expected.yaml").read_bytes()
    assert outcome.transcript() == (case / "expected.txt").read_text()
    assert b"Traceback" not in outcome.stderr


def _results(text: str) -> tuple[yaml.Node, yaml.Node, bool] | None:
    root = yaml.compose(text, Loader=yaml.CSafeLoader)
    for key, value in root.value:
        if key.value == "results":
            return key, value, bool(root.flow_style)
    return None


def rerun_input(case: Path, output: bytes) -> bytes:
    """What the next step sends back: the output without the results this run appended.
    Results that came in stay; an input that came back as it was (it could not be
    read) comes again as it is; a document end marker after the results stays."""
    given = fixture_input(case)
    if is_stream(case) or output == given:
        return output
    text = output.decode()
    found = _results(text)
    if found is None:
        return output
    key, value, flow = found
    before = _results(given.decode())
    if before is not None:
        prior = given.decode()[before[1].start_mark.index : before[1].end_mark.index]
        return (text[: value.start_mark.index] + prior + text[value.end_mark.index :]).encode()
    start, end = key.start_mark.index, value.end_mark.index
    if flow:
        start = text.rindex(",", 0, start)
        return (text[:start] + text[end:]).encode()
    return (text[:start] + text[end:]).encode()


# Cases whose first run says what it did that a second run has no more to do: their
# items come out the same, their results do not.
FIRST_RUN_RESULTS = {"silent-orphaned-record"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_second_run_changes_nothing(case: Path) -> None:
    first = run_case(case)
    again = rerun_input(case, first.stdout)
    second = run_cli(command(case), again)
    if case.name in FIRST_RUN_RESULTS:
        assert strip_results(second.stdout.decode()) == strip_results(first.stdout.decode())
        assert second.stdout != first.stdout
    else:
        assert second.stdout.decode() == first.stdout.decode()
    assert second.status == first.status


def test_every_fixture_folder_is_a_whole_case() -> None:
    """The tests and `--update` walk only folders with an input.yaml: anything else
    under fixtures/ would go untested without a word, and a stray file unread."""
    problems = {}
    for entry in sorted(FIXTURES.iterdir()):
        names = {p.name for p in entry.iterdir()} if entry.is_dir() else set()
        missing = sorted({"input.yaml", *EXPECTATIONS} - names)
        unknown = sorted(names - INPUTS - EXPECTATIONS)
        if missing or unknown:
            problems[entry.name] = {"missing": missing, "unknown": unknown}
    assert problems == {}
    assert [c.name for c in CASES] == sorted(p.name for p in FIXTURES.iterdir())


@pytest.mark.parametrize(
    "name",
    [
        "hf-basic",  # a ResourceList
        "options",  # with a config.yaml as its functionConfig
        "errors",  # a non-zero exit
        "stream-local-config",  # a YAML stream through --stream
    ],
)
def test_update_writes_the_expectations_checked_in(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m tests.golden --update` on a copy of a case's inputs alone gives back
    the very files the tests above compare with."""
    source, copy = FIXTURES / name, tmp_path / name
    copy.mkdir()
    for file in sorted(INPUTS & {p.name for p in source.iterdir()}):
        shutil.copy(source / file, copy / file)
    update(tmp_path)
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == {
        p.name: p.read_bytes() for p in source.iterdir()
    }
    status = (source / "expected.txt").read_text().splitlines()[-1].removeprefix("exit status: ")
    assert capsys.readouterr().out == f"{name}: exit status {status}\n"


def test_secret_values_never_reach_results_or_stderr() -> None:
    case = next(c for c in CASES if c.name == "secrets")
    outcome = run_case(case)
    results = outcome.stdout.decode().split("\nresults:\n", 1)[1]
    assert "never_printed" in fixture_input(case).decode()
    assert "never_printed" not in results
    assert b"never_printed" not in outcome.stderr
