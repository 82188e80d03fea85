"""A small KRM function SDK: ResourceList (or YAML stream) in, the same out, with results.

It knows the wire format and nothing of ModelServices, so another function could reuse
it: a function is a `Processor` (the fields to read of each item, whether a list has work
for it, and the work), and `run(processor, raw)` does the rest, returning an `Outcome`
(output bytes, results, failed). Untouched items are passed through as the very text that
came in; only items a processor edits are round-tripped through ruamel.yaml (see
:mod:`krmfn.krm.roundtrip`). Problems are `FieldError`s, turned into results by
`Result.of`.
"""

from krmfn.krm.document import Document, Item, read_document
from krmfn.krm.errors import FieldError
from krmfn.krm.results import ResourceRef, Result, Severity
from krmfn.krm.run import Outcome, Processor, run

__all__ = [
    "Document",
    "FieldError",
    "Item",
    "Outcome",
    "Processor",
    "ResourceRef",
    "Result",
    "Severity",
    "read_document",
    "run",
]
