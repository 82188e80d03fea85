"""The error that stops a run before any item can be processed."""


class InputError(Exception):
    """The input (or one item of it) is not something the function can read."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
