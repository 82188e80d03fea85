"""Bytes in, bytes out: reading the input, running the function, rendering results.

Whatever happens, the output holds every item that came in: an input that cannot be
read comes back unchanged (with the error on stderr), and an unexpected failure inside
the function is reported as an error result on the unchanged list.
"""

from __future__ import annotations

from typing import Any

from krmfn.kinds import DISCOVERY_FIELDS, has_work, is_model_service_data
from krmfn.krm import Document, InputError, Result, Severity
from krmfn.krm.document import Mode, decode, read_document
from krmfn.krm.results import ResourceRef, stderr_lines


def _config(doc: Document, config_text: str | None) -> tuple[Any, Any, list[Result]]:
    """(config, a ModelService given as the functionConfig, results)."""
    from krmfn.config import API_VERSION, KIND, Config, ConfigError, parse_config

    raw = doc.function_config
    if config_text is not None:
        import yaml

        try:
            raw = yaml.load(config_text, Loader=yaml.CSafeLoader)
        except yaml.YAMLError as exc:
            return None, None, [Result(f"function config is not valid YAML: {exc}", Severity.ERROR)]
    if isinstance(raw, dict) and is_model_service_data(raw):
        # kustomize's `transformers: [modelservice.yaml]`: the ModelService is the config.
        return Config(), raw, []
    try:
        return parse_config(raw), None, []
    except ConfigError as exc:
        ref = None
        if isinstance(raw, dict):
            metadata = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
            ref = ResourceRef(
                str(raw.get("apiVersion", API_VERSION)),
                str(raw.get("kind", KIND)),
                str((metadata or {}).get("name", "")),
                str((metadata or {}).get("namespace", "") or ""),
            )
        message = f"function config: {exc.message}"
        return None, None, [Result(message, Severity.ERROR, ref, exc.path)]


def run_function(
    raw: bytes, mode: Mode, config_text: str | None = None
) -> tuple[bytes, list[str], bool]:
    """Returns (output bytes, stderr lines, failed)."""
    try:
        text = decode(raw)
        doc = read_document(text, mode, DISCOVERY_FIELDS)
    except InputError as exc:
        # Nothing could be read, so nothing is changed: the input goes back as it came.
        return raw, stderr_lines([Result(exc.message, Severity.ERROR)]), True
    if (
        config_text is None
        and doc.function_config is None
        and not has_work(doc.items, mode == "stream")
    ):
        return text_output(raw, doc.render([])), [], False
    config, config_service, results = _config(doc, config_text)
    if config is not None:
        from krmfn.function import process

        try:
            results = process(doc, config, config_service)
        except Exception as exc:  # never a traceback, never a lost item
            doc = read_document(text, mode, DISCOVERY_FIELDS)
            results = [Result(f"internal error: {type(exc).__name__}: {exc}", Severity.ERROR)]
    failed = any(r.severity is Severity.ERROR for r in results)
    return text_output(raw, doc.render(results)), stderr_lines(results), failed


def text_output(raw: bytes, output: str) -> bytes:
    if raw.count(b"\r\n") == raw.count(b"\n") > 0:
        # Read with LF line ends; a file written with CRLF gets them back.
        output = output.replace("\n", "\r\n")
    return output.encode()
