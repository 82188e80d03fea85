"""The model-artifacts function as `krmfn.krm.run` calls it.

This module imports nothing heavy: a list with no ModelService (most lists of a
monorepo) passes through without loading pydantic, ruamel or jinja2.
"""

from __future__ import annotations

from typing import Any

from krmfn.kinds import DISCOVERY_FIELDS, is_model_service, is_model_service_data
from krmfn.krm import Document, FieldError, Item, Result
from krmfn.krm.results import ResourceRef


class ModelArtifactsFunction:
    fields = DISCOVERY_FIELDS

    def wants(self, items: list[Item]) -> bool:
        return any(is_model_service(item) for item in items)

    def __call__(self, doc: Document, config: Any) -> list[Result]:
        from krmfn.config import Config, parse_config
        from krmfn.function import process

        if isinstance(config, dict) and is_model_service_data(config):
            # kustomize's `transformers: [modelservice.yaml]`: the ModelService is the config.
            return process(doc, Config(), config)
        try:
            parsed = parse_config(config)
        except FieldError as exc:
            return [Result.of(exc, ResourceRef.of(config), prefix="function config: ")]
        return process(doc, parsed)
