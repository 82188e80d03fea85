"""`@pytest.mark.needs("kpt", ...)` on a test (or `pytestmark` on a module) names the tools
it runs: where one is missing the test skips, saying what to install, and under CI it
fails (tests.orchestrators.require)."""

from __future__ import annotations

import os

import pytest

from tests.orchestrators import require


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("needs"):
        for tool in marker.args:
            require(tool)


# The runtime tier runs in a venv of its own, with the model loaders' client libraries
# (scripts/runtime-tests.sh); the rest of the suite does not collect it.
collect_ignore = [] if os.environ.get("KRMFN_RUNTIME") else ["runtime"]
