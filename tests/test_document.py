"""The krm Document adds and drops items in the style of the list it came in."""

from __future__ import annotations

import json

import pytest
import yaml

from krmfn.krm.document import Document, Mode, read_document

NEW = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"a": "x\ny\n"}}


def doc(text: str, mode: Mode = "resourcelist") -> Document:
    return read_document(text, mode)


def test_an_item_is_added_after_the_last_in_its_indentation() -> None:
    document = doc(
        "kind: ResourceList\nitems:\n  -   apiVersion: v1\n      kind: A\n"
        "  -   apiVersion: v1\n      kind: B  # last\nfunctionConfig: {}\n"
    )
    document.append(NEW)
    assert document.render([]) == (
        "kind: ResourceList\nitems:\n  -   apiVersion: v1\n      kind: A\n"
        "  -   apiVersion: v1\n      kind: B  # last\n"
        "  -   apiVersion: batch/v1\n      kind: Job\n      metadata:\n        name: j\n"
        "      spec:\n        a: |\n          x\n          y\n"
        "functionConfig: {}\n"
    )


def test_a_dropped_item_leaves_no_line_and_a_new_one_takes_the_end() -> None:
    text = "kind: ResourceList\nitems:\n- kind: A\n- kind: B\n  x: 1\n- kind: C\n"
    document = doc(text)
    document.drop(document.items[1])
    document.drop(document.items[2])
    document.append({"kind": "D"})
    assert document.render([]) == "kind: ResourceList\nitems:\n- kind: A\n- kind: D\n"


def test_without_a_final_line_break() -> None:
    document = doc("kind: ResourceList\nitems:\n- kind: A")
    document.append({"kind": "D"})
    assert document.render([]) == "kind: ResourceList\nitems:\n- kind: A\n- kind: D"


def test_a_json_list_stays_json() -> None:
    text = '{"kind": "ResourceList", "items": [{"kind": "A"}, {"kind": "B"}]}'
    document = doc(text)
    document.drop(document.items[0])
    document.append(NEW)
    out = document.render([])
    assert out == '{"kind": "ResourceList", "items": [{"kind": "B"}, ' + json.dumps(NEW) + "]}"
    assert json.loads(out)["items"] == [{"kind": "B"}, NEW]


@pytest.mark.parametrize(
    ("dropped", "expected"),
    [
        ([0], '{"kind": "ResourceList", "items": [{"kind": "B"}]}'),
        ([1], '{"kind": "ResourceList", "items": [{"kind": "A"}]}'),
        ([0, 1], '{"kind": "ResourceList", "items": []}'),
    ],
)
def test_json_elements_drop_with_their_comma(dropped: list[int], expected: str) -> None:
    document = doc('{"kind": "ResourceList", "items": [{"kind": "A"}, {"kind": "B"}]}')
    for index in dropped:
        document.drop(document.items[index])
    assert document.render([]) == expected


def test_a_stream_gets_new_documents_at_its_end() -> None:
    document = doc("---\n# Source: a.yaml\nkind: A\n", "stream")
    document.append(NEW)
    out = document.render([])
    assert out.startswith("---\n# Source: a.yaml\nkind: A\n---\napiVersion: batch/v1\n")
    assert list(yaml.safe_load_all(out)) == [{"kind": "A"}, NEW]
