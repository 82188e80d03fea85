"""The one error type: what is wrong, and where.

The input, one of its items, or one field of an item cannot be used. `message` says why;
`path` is the field's path (`spec.modelArtifacts.uri`, `spec.template.spec.containers[0]`)
or empty when the error is about the whole input or item. `Result.of` turns it into a
result; nothing else takes it apart.
"""

from __future__ import annotations


class FieldError(Exception):
    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path
