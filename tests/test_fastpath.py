"""The fast load (libyaml events into ruamel's constructor) and the fast dump (ruamel's
emitter decisions without its event machinery) give what ruamel's own load and dump give,
byte for byte, and leave to ruamel what they do not cover."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    LiteralScalarString,
    PlainScalarString,
    SingleQuotedScalarString,
)

from krmfn.krm import fastdump, fastload
from krmfn.krm.roundtrip import _yaml

STYLES = [(2, 0), (2, 2), (4, 2), (4, 0), (3, 1)]

# Texts both paths read; each is loaded and dumped in every indentation style.
FAST = [
    "a: b\n",
    'a: "b"\nc: \'d\'\ne: "x\\ty\\u00e9\\n"\n',
    "a: 0777\nb: 0x1F\nc: 1_000\nd: 0o17\ne: 1.50\nf: .inf\ng: -.nan\nh: 1e10\nj: 007\n",
    "a: yes\nb: True\nc: on\nd: ~\ne: null\nf:\ng: 2001-12-14\n",
    "a: {b: [1, 2, {c: d}], e: []}\nf: [[a, b], [c]]\ng: {}\nh: []\n",
    '{"a": "b", "c": [1, 2, "3"], "d": {"e": null}}\n',
    "a:\n- b\n- c: d\n  e: f\n- - x\n  - y\n- []\n- {}\n- {k: v}\n- [1]\n",
    "a:\n  - b\n  - c\n",
    "a:\n    b:\n        - c\n        - d: e\n",
    "ünï: cödé\nemoji: \"😀\"\nx: '\u00a0nbsp'\n",
    'a: "b # not comment"\nc: d#e\n',
    'a: multi\n  line plain\nb: "quoted\n  multi"\n',
    "a: -1\nb: +1\nc: -0.0\nd: 1.\ne: .5\nf: 1:20\ng: 0b101\n",
    "a: 'it''s'\nb: \"say \\\"hi\\\"\"\n",
    "a: |\n  lit\n  eral\nb: |-\n  x\nc: |2\n   indented\n",
    "a: \"\\x01 \\u2028 \\ufeff\"\nb: 'yes'\nc: \"123\"\nd: ''\n",
    "env:\n- name: A\n  value:\n- name: B\n  value: ''\nargs: [--x=1, '--y', \"-z\"]\n",
    "url: http://x.y/z?q=1&r=2\ncolon: a:b\ndash: -x\nq: ?x\n",
    "long: " + "x" * 300 + "\nkey: " + " ".join(["word"] * 100) + "\n",
]

# Texts the fast load leaves to ruamel.
SLOW = [
    "a: b # comment\n",
    "# comment\na: b\n",
    "a: b\n\nc: d\n",
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "a: !custom x\n",
    "<<: {a: 1}\nb: 2\n",
    "a: >\n  folded\n",
    "a:\tb\n",
    "a: b\r\n",
    "a: b\n---\nc: d\n",
    "- a\n- b\n",
    "a: [b, c\n",
]


def ruamel_load(text: str, style: tuple[int, int]) -> Any:
    return _yaml(*style).load(text)


def ruamel_dump(data: Any, style: tuple[int, int]) -> str:
    buf = io.StringIO()
    _yaml(*style).dump(data, buf)
    return buf.getvalue()


def fast_load(text: str, style: tuple[int, int]) -> Any:
    y = _yaml(*style)
    found = fastload.load(text, lambda: y.constructor)
    return None if found is None else found.data


def shape(value: Any) -> Any:
    """The data with the types and flow styles ruamel gave it, for comparison."""
    if isinstance(value, dict):
        return (
            type(value),
            value.fa.flow_style(),
            [(type(k), k, shape(v)) for k, v in value.items()],
        )
    if isinstance(value, list):
        return (type(value), value.fa.flow_style(), [shape(v) for v in value])
    extra = {k: getattr(value, k) for k in ("_width", "_underscore", "_prec") if hasattr(value, k)}
    return (type(value), repr(value), extra)


@pytest.mark.parametrize("text", FAST)
@pytest.mark.parametrize("style", STYLES)
def test_fast_load_and_dump_give_ruamel_s_data_and_bytes(text: str, style: tuple[int, int]) -> None:
    fast = fast_load(text, style)
    assert fast is not None, "expected the fast load"
    slow = ruamel_load(text, style)
    assert shape(fast) == shape(slow)
    written = fastdump.dump(fast, *style)
    assert written is not None, "expected the fast dump"
    assert written == ruamel_dump(slow, style)


@pytest.mark.parametrize("text", SLOW)
def test_what_only_ruamel_reads_is_left_to_it(text: str) -> None:
    assert fast_load(text, (2, 0)) is None


def test_exact_output_of_a_flow_item_and_a_block_item() -> None:
    flow = fast_load("metadata: {name: d, labels: {role: decode}}\n", (2, 0))
    flow["metadata"]["annotations"] = CommentedMap({"a": LiteralScalarString("x\ny")})
    flow["metadata"]["labels"]["on"] = "true"
    assert fastdump.dump(flow, 2, 0) == (
        "metadata: {name: d, labels: {role: decode, on: 'true'}, annotations: {a: \"x\\ny\"}}\n"
    )
    block = fast_load("spec:\n  containers:\n  - name: vllm\n    env:\n", (2, 0))
    block["spec"]["containers"][0]["args"] = CommentedSeq(["--a", "yes", ""])
    block["metadata"] = CommentedMap({"note": LiteralScalarString("one\ntwo")})
    assert fastdump.dump(block, 2, 0) == (
        "spec:\n  containers:\n  - name: vllm\n    env:\n    args:\n    - --a\n    - yes\n"
        "    - ''\nmetadata:\n  note: |-\n    one\n    two\n"
    )


def _commented() -> CommentedMap:
    data = fast_load("a: b\nc: d\n", (2, 0))
    data.yaml_add_eol_comment("note", "a")
    return data


@pytest.mark.parametrize(
    "data",
    [
        _commented(),
        CommentedMap({1: "int key"}),
        CommentedMap({"k" * 200: "a key too long to be simple"}),
        CommentedMap({"a": SingleQuotedScalarString("two\nlines")}),
        CommentedMap({"a": LiteralScalarString("keep\n\n")}),
        CommentedMap({"a": {"plain": "dict"}}),
        ["not", "a", "mapping"],
    ],
    ids=["comment", "int-key", "long-key", "multiline-single", "keep-chomp", "dict", "list"],
)
def test_what_only_ruamel_writes_is_left_to_it(data: Any) -> None:
    assert fastdump.dump(data, 2, 0) is None


_ALPHABET = list("ab :#-?,[]{}'\"\\\n!&*|>%@`.019eE+_~/=") + [
    "é", "😀", "\x85", "\u2028", "\xa0", "\x01", "\ufeff", "---", "...", " #", ": ", "- ",
    "yes", "no", "null", "0x1", "1.5", "0o7", ".inf", "2001-12-14", "true",
]  # fmt: skip


def _random_data(r: random.Random, depth: int = 0) -> Any:
    if depth > 3 or r.random() < 0.35:
        if r.random() < 0.5:
            text = "".join(r.choice(_ALPHABET) for _ in range(r.randint(0, 6)))
            kind = r.choice([str, str, DoubleQuotedScalarString, SingleQuotedScalarString,
                             PlainScalarString, LiteralScalarString])  # fmt: skip
            return kind(text)
        return r.choice([None, True, False, 0, -5, 10**20, 1.5, 1e20, -0.0])
    flow = r.choice([None, True, False])
    container: Any
    if r.random() < 0.5:
        container = CommentedMap()
        for _ in range(r.randint(0, 4)):
            key = "".join(r.choice("abc-_./ é:#") for _ in range(r.randint(0, 5)))
            container[key] = _random_data(r, depth + 1)
    else:
        container = CommentedSeq(_random_data(r, depth + 1) for _ in range(r.randint(0, 4)))
    if flow is True:
        container.fa.set_flow_style()
    elif flow is False:
        container.fa.set_block_style()
    return container


@pytest.mark.parametrize("seed", range(40))
def test_random_data_is_written_as_ruamel_writes_it(seed: int) -> None:
    r = random.Random(seed)
    written = 0
    for _ in range(50):
        root = CommentedMap()
        for _ in range(r.randint(1, 4)):
            root["k" + str(r.randint(0, 9))] = _random_data(r)
        if r.random() < 0.2:
            root.fa.set_flow_style()
        style = r.choice(STYLES)
        fast = fastdump.dump(root, *style)
        if fast is None:
            continue
        written += 1
        assert fast == ruamel_dump(root, style), (seed, style)
    assert written


@pytest.mark.parametrize(
    "text", [*FAST, "a:\n    b: 1\n    c:\n      - x\n", "a:\n - x\nb:\n   c: 1\n"]
)
def test_indent_style_is_what_the_nodes_give(text: str) -> None:
    import yaml

    from krmfn.krm.roundtrip import _indent_style

    found = fastload.load(text, lambda: _yaml(2, 0).constructor)
    assert found is not None and found.checked
    assert fastload.indent_style(found.data) == _indent_style(
        yaml.compose(text, Loader=yaml.CSafeLoader)
    )


def test_items_beyond_the_limits_or_with_other_keys_are_checked_on_their_nodes() -> None:
    deep = "a: " + "[" * 101 + "]" * 101 + "\n"
    found = fastload.load(deep, lambda: _yaml(2, 0).constructor)
    assert found is not None and not found.checked
    int_keys = "1: a\n'1': b\n"
    found = fastload.load(int_keys, lambda: _yaml(2, 0).constructor)
    assert found is not None and not found.checked
    assert fastload.load("a: 1\n'a': 2\n", lambda: _yaml(2, 0).constructor) is None


# (item, the (mapping indent, dash offset) it is written in): one style per item, that of
# its outermost collections when it mixes them, so an edit moves the fewest lines.
MIXED = [
    ("roles:\n- name: a\n  spec:\n    volumes:\n      - x\n      - y\n", (2, 0)),
    ("roles:\n  - name: a\n    volumes:\n    - x\n    env:\n    - y\n", (2, 2)),
    ("a:\n    b:\n      c:\n        d: 1\n", (4, 0)),
    ("a:\n  - x\nb:\n- y\nc:\n- z\n", (2, 0)),
]


@pytest.mark.parametrize(("text", "style"), MIXED)
def test_an_item_mixing_styles_is_written_in_its_outermost_one(
    text: str, style: tuple[int, int]
) -> None:
    import yaml

    from krmfn.krm.roundtrip import _indent_style

    found = fastload.load(text, lambda: _yaml(2, 0).constructor)
    assert found is not None
    assert fastload.indent_style(found.data) == style
    assert _indent_style(yaml.compose(text, Loader=yaml.CSafeLoader)) == style
