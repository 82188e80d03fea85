"""The error render() raises, and how its messages quote the offending action."""

from __future__ import annotations

from typing import NoReturn

from krmfn.krm.errors import FieldError

# Error messages quote the offending action; a megabyte-long action would drown the rest.
_SHOW_MAX = 200


class TemplateError(FieldError):
    """A template that cannot be rendered.

    message: human text without ModelService/field context (the caller adds that and the
    field path); action: the offending action as written, e.g. '{{ .NoSuchVar }}', or ''
    where the raiser does not know it (a template function: the runtime adds it).
    """

    def __init__(self, message: str, action: str = "") -> None:
        super().__init__(message)
        self.action = action


def error(what: str, action: str, hint: str = "") -> TemplateError:
    shown = action if len(action) <= _SHOW_MAX else action[:_SHOW_MAX] + "..."
    message = f"{what} in {shown}" if action else what
    if hint:
        message += f"; {hint}"
    return TemplateError(message, action)


def fail(what: str, action: str, hint: str = "") -> NoReturn:
    raise error(what, action, hint)
