"""metadata.yaml, the kpt catalog's entry, says what the project is."""

from __future__ import annotations

import tomllib

import yaml

from tests.golden import ROOT
from tests.orchestrators import IMAGE

SOURCE = "https://github.com/llm-d-incubation/krmfn"


def test_catalog_entry_names_the_image_license_and_existing_examples() -> None:
    entry = yaml.safe_load((ROOT / "metadata.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sorted(entry) == [
        "description",
        "examplePackageURLs",
        "image",
        "license",
        "sourceURL",
        "tags",
    ]
    assert f"{entry['image']}:v{project['version']}" == IMAGE
    assert entry["license"] == project["license"]
    assert entry["sourceURL"] == SOURCE
    assert "mutator" in entry["tags"]
    prefix = f"{SOURCE}/tree/main/"
    for url in entry["examplePackageURLs"]:
        assert url.startswith(prefix), url
        example = ROOT / url.removeprefix(prefix)
        assert any((example / name).is_file() for name in ("Kptfile", "kustomization.yaml")), url
