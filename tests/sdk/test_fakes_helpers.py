"""The fakes' helpers: schema examples, image headers, argument fragments, the new directives."""

from __future__ import annotations

import pytest

from tests.fakes import images, parse_directives
from tests.fakes.schema_values import example
from tests.fakes.tools import fragments


def test_example_values() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "count": {"type": "integer"},
            "ratio": {"type": "number"},
            "ok": {"type": "boolean"},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
            "child": {"$ref": "#/$defs/Child"},
            "empty": {"type": "object"},
            "loud": {"type": "STRING"},
        },
        "$defs": {"Child": {"type": "object", "properties": {"x": {"type": "integer"}}}},
    }
    assert example(schema) == {
        "name": "name-value",
        "count": 2,
        "ratio": 1.5,
        "ok": True,
        "kind": "a",
        "tags": ["tags-value"],
        "maybe": 7,
        "child": {"x": 1},
        "empty": {},
        "loud": "loud-value",
    }
    assert example({"type": "object"}) == {}
    assert example({"type": ["string", "null"]}) == "value-value"


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (images.png(16, 8), ("image/png", 16, 8)),
        (images.gif(3, 5), ("image/gif", 3, 5)),
        (images.jpeg(640, 480), ("image/jpeg", 640, 480)),
        (images.webp(300, 200), ("image/webp", 300, 200)),
        (b"hello", None),
    ],
)
def test_sniff(data: bytes, found: tuple[str, int, int] | None) -> None:
    assert images.sniff(data) == found


def test_fragments_and_directives() -> None:
    assert fragments("{}") == ["{", "}"]
    assert "".join(fragments('{"a":1}')) == '{"a":1}' and len(fragments('{"a":1}')) >= 2
    d = parse_directives(
        "fake:tools=2 fake:call-ids fake:thought-signature fake:malformed-tool", "x"
    )
    assert (d.tools, d.call_ids, d.thought_signature, d.malformed_tool) == (2, True, True, True)
    assert (d.text_set, d.usage_set) == (False, False)
    d = parse_directives("fake:text=a fake:usage=1,2", "x")
    assert (d.text_set, d.usage_set) == (True, True)
