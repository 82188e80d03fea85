"""The error render() raises, and how its messages quote the offending action."""

from __future__ import annotations

from typing import NoReturn

# Error messages quote the offending action; a megabyte-long action would drown the rest.
_SHOW_MAX = 200


class TemplateError(Exception):
    """A template that cannot be rendered.

    message: human text without ModelService/field context (the caller adds that);
    action: the offending action as written, e.g. '{{ .NoSuchVar }}', or '' if the
    error is not attributable to one action.
    """

    def __init__(self, message: str, action: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.action = action

    def __str__(self) -> str:
        return self.message


class FunctionError(Exception):
    """Raised by template functions, which do not know which action called them."""


def error(what: str, action: str, hint: str = "") -> TemplateError:
    shown = action if len(action) <= _SHOW_MAX else action[:_SHOW_MAX] + "..."
    message = f"{what} in {shown}" if action else what
    if hint:
        message += f"; {hint}"
    return TemplateError(message, action)


def fail(what: str, action: str, hint: str = "") -> NoReturn:
    raise error(what, action, hint)
