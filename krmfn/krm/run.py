"""`run(processor, ...)`: bytes in, bytes out, for any KRM function.

It reads the input (a ResourceList, or a plain YAML stream for Helm), hands the items and
the function config to the processor, keeps local-config documents out of a stream's
output, and renders the result. Whatever happens, the output holds every item that came
in: an input that cannot be read comes back unchanged (with the error), and an unexpected
failure inside the processor is an error result on the unchanged list.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from krmfn.krm.document import Document, Item, Mode, decode, read_document
from krmfn.krm.errors import FieldError
from krmfn.krm.reader import FieldSpec
from krmfn.krm.results import Result, Severity, stderr_lines

LOCAL_CONFIG = "config.kubernetes.io/local-config"


class Processor(Protocol):
    """What a function gives `run`: the fields its items need read, whether a list
    without config has work for it, and the work itself."""

    fields: FieldSpec

    def wants(self, items: list[Item]) -> bool:
        """Whether the items hold anything to do: a list without it passes through as it
        came, without loading what the work needs."""
        ...

    def __call__(self, doc: Document, config: Any) -> list[Result]:
        """Edit the document's items; `config` is the function config as plain data
        (None when there is none). Returns the results."""
        ...


class Outcome(NamedTuple):
    output: bytes
    results: list[Result]
    failed: bool  # an error result: exit status 1

    @property
    def stderr(self) -> list[str]:
        """The results people read: errors, then warnings, one line each."""
        return stderr_lines(self.results)


def is_local_config(item: Item) -> bool:
    return item.annotations.get(LOCAL_CONFIG) == "true"


def _outcome(raw: bytes, doc: Document, results: list[Result]) -> Outcome:
    failed = any(r.severity is Severity.ERROR for r in results)
    if raw.count(b"\r\n") == raw.count(b"\n") == raw.count(b"\r") > 0:
        # Read with LF line ends; a file written with CRLF gets them back.
        output = doc.render(results).replace("\n", "\r\n")
        return Outcome(output.encode(), results, failed)
    if b"\r" in raw and b"\n" not in raw:  # and one written with CR alone
        return Outcome(doc.render(results).replace("\n", "\r").encode(), results, failed)
    return Outcome(doc.write(results, raw), results, failed)


def _drop_local_config(doc: Document) -> list[Result]:
    """As kustomize does with a ResourceList: local-config objects are a function's
    input, never applied. A stream has no other way to keep them out of the cluster."""
    local = [i for i in doc.items if is_local_config(i)]
    if local and len(local) == sum(1 for i in doc.items if i.is_mapping):
        # Helm 4 takes an empty output for an error anyway: say why instead.
        message = "every document is local-config: nothing would be left to apply"
        return [Result(message, Severity.ERROR)]
    for item in local:
        doc.drop(item)
    return []


def _config(doc: Document, config_text: str | None) -> Any:
    """The function config as plain data: from `config_text` (a stream's --config file)
    or the ResourceList's functionConfig. Raises FieldError."""
    if config_text is None:
        return doc.function_config
    import yaml

    from krmfn.krm.document import construct

    try:
        node = yaml.compose(config_text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        raise FieldError(f"function config is not valid YAML: {exc}") from None
    if node is None:
        return None
    try:
        # The limits and the tag checks of any item's value (`!!int abc` is an error).
        return construct(node)
    except FieldError as exc:
        raise FieldError(f"function config cannot be read: {exc.message}") from None


def run(
    processor: Processor, raw: bytes, mode: Mode = "resourcelist", config_text: str | None = None
) -> Outcome:
    try:
        text = decode(raw)
        doc = read_document(text, mode, processor.fields)
    except FieldError as exc:
        # Nothing could be read, so nothing is changed: the input goes back as it came.
        return Outcome(raw, [Result.of(exc)], True)
    stream = mode == "stream"
    if (
        config_text is None
        and doc.function_config is None
        and not processor.wants(doc.items)
        and not (stream and any(is_local_config(i) for i in doc.items))
    ):
        # Nothing to do: the input is the output, without a copy of it.
        return Outcome(raw, [], False)
    try:
        results = processor(doc, _config(doc, config_text))
    except FieldError as exc:
        results = [Result.of(exc)]
    except Exception as exc:  # never a traceback, never a lost item
        doc = read_document(text, mode, processor.fields)
        results = [Result(f"internal error: {type(exc).__name__}: {exc}", Severity.ERROR)]
    if stream and not any(r.severity is Severity.ERROR for r in results):
        # A failed run keeps them: its output is the input of the run after the fix, which
        # must find the same ModelServices (Helm, the stream's user, fails on exit 1).
        results += _drop_local_config(doc)
    return _outcome(raw, doc, results)
