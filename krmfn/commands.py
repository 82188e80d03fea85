"""What a container's command runs: a shell script, or a program that takes its model as
an argument."""

from __future__ import annotations

import posixpath
from typing import Any

SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh"})


def runs_shell(command: Any) -> bool:
    """Whether the command is a shell (`/bin/bash -c`, `sh`): its args are a script and
    the script's own arguments, so nothing may go in front of them."""
    if not isinstance(command, list) or not command:
        return False
    return posixpath.basename(str(command[0])) in SHELLS


def words(args: list[str]) -> list[str]:
    """The words of a script's text, enough to tell whether it passes an option."""
    return [word for arg in args for word in arg.split()]
