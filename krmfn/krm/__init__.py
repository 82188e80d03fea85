"""A small KRM function layer: ResourceList in, ResourceList out, results, exit code.

It knows the wire format and nothing of ModelServices, so another function could reuse it.
Untouched items are passed through as the very text that came in; only items a processor
edits are round-tripped through ruamel.yaml (see :mod:`krmfn.krm.roundtrip`).
"""

from krmfn.krm.document import Document, Item, read_document
from krmfn.krm.errors import InputError
from krmfn.krm.results import Result, Severity

__all__ = ["Document", "InputError", "Item", "Result", "Severity", "read_document"]
