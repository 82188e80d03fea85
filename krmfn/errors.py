"""The one error type for "this field is wrong": what is wrong, and where."""

from __future__ import annotations


class FieldError(Exception):
    """A field that cannot be used: `message` says why, `path` is its dotted field path
    (`spec.decode.target.name`), empty when the error is about the whole object."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path
