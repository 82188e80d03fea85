"""Every golden fixture through the real CLI, compared byte for byte; then run again on
its own output, which must change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.golden import cases, command, fixture_input, is_stream, run_case, run_cli

CASES = cases()


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
    assert outcome.stdout.decode() == (case / "expected.yaml").read_text()
    assert outcome.transcript() == (case / "expected.txt").read_text()
    assert b"Traceback" not in outcome.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_second_run_changes_nothing(case: Path) -> None:
    first = run_case(case)
    again = first.stdout if is_stream(case) else strip_results(first.stdout.decode()).encode()
    second = run_cli(command(case), again)
    assert second.stdout.decode() == first.stdout.decode()
    assert second.status == first.status


def test_every_case_regenerates_with_one_command() -> None:
    # The fixture list is what `python -m tests.golden --update` walks.
    assert {c.name for c in CASES} >= {"hf-basic", "pvc-path", "errors", "formatting"}
    for case in CASES:
        assert fixture_input(case)


def test_secret_values_never_reach_results_or_stderr() -> None:
    case = next(c for c in CASES if c.name == "secrets")
    outcome = run_case(case)
    results = outcome.stdout.decode().split("\nresults:\n", 1)[1]
    assert "never_printed" in fixture_input(case).decode()
    assert "never_printed" not in results
    assert b"never_printed" not in outcome.stderr
