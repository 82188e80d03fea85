"""What a container's command runs: a shell script, or a program that takes its model as
an argument."""

from __future__ import annotations

import posixpath
from typing import Any, NamedTuple

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


class ModelArgument(NamedTuple):
    value: str
    field: str  # "command" or "args"
    position: int  # of the element that holds it


def model_argument(command: Any, args: Any) -> ModelArgument | None:
    """The model a vLLM command line loads: `vllm serve MODEL`, or `--model MODEL` /
    `--model=MODEL` (in a shell script too), or None when it names none."""
    shell = runs_shell(command)
    tokens = [
        (word.strip("'\""), field, index)
        for field, values in (("command", command), ("args", args))
        if isinstance(values, list)
        for index, value in enumerate(values)
        for word in (str(value).split() if shell else [str(value)])
    ]
    for at, (word, _, _) in enumerate(tokens):
        following = tokens[at + 1] if at + 1 < len(tokens) else None
        if word.startswith("--model="):
            return ModelArgument(word.removeprefix("--model="), *tokens[at][1:])
        if word == "--model" and following is not None:
            return ModelArgument(*following)
        after_vllm = at > 0 and posixpath.basename(tokens[at - 1][0]) == "vllm"
        if word == "serve" and after_vllm and following and not following[0].startswith("-"):
            return ModelArgument(*following)
    return None
