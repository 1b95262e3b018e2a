"""Tool and response_format schemas per provider: Gemini's OpenAPI subset keeps the meaning."""

from __future__ import annotations

import copy
import datetime
import enum
import json
from typing import Annotated, Any, Literal

import pytest
from google.genai import types
from pydantic import BaseModel, Field, conlist

from core.schemas import (
    REF_DEPTH,
    UnsupportedSchema,
    gemini_parameters,
    is_empty_object,
    to_anthropic_input_schema,
    to_gemini,
)

GEMINI_KEYS = {
    "type", "format", "description", "nullable", "enum", "properties", "required", "items",
    "minItems", "maxItems", "minLength", "maxLength", "pattern", "minimum", "maximum",
    "minProperties", "maxProperties", "anyOf",
}  # fmt: skip


class Color(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class Size(enum.IntEnum):
    SMALL = 1
    LARGE = 2


class Address(BaseModel):
    """A postal address."""

    street: str
    zip: str | None = Field(None, description="Five digits", pattern=r"^\d{5}$")


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = Field(ge=0, lt=10)


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool = True


class Node(BaseModel):
    """A tree."""

    name: str
    children: list[Node] = []
    parent: Node | None = None


class Person(BaseModel):
    name: str = Field(description="Full name", min_length=1, max_length=80)
    age: int | None = Field(None, ge=0, le=150)
    home: Address = Field(description="Where they live")
    work: Address | None = None
    other: list[Address] = Field(min_length=1, max_length=5)
    color: Color
    size: Size
    mode: Literal["fast", "slow"] = "fast"
    version: Literal[2] = 2
    when: datetime.datetime
    email: str = Field(json_schema_extra={"format": "email"})
    tags: dict[str, int] = {}
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]
    code: int | str | None = Field(None, description="Either form")
    score: float = Field(gt=0, le=1.5)
    anything: Any = None
    pair: tuple[int, str]
    scores: conlist(int, min_length=2)  # type: ignore[valid-type]


class NoArgs(BaseModel):
    pass


def nodes(schema: Any):
    """Every sub-schema of a converted schema, the root first."""
    yield schema
    for sub in schema.get("properties", {}).values():
        yield from nodes(sub)
    if "items" in schema:
        yield from nodes(schema["items"])
    for branch in schema.get("anyOf", []):
        yield from nodes(branch)


def assert_gemini_shape(schema: dict) -> None:
    types.Schema.model_validate(schema)  # google-genai's own model: unknown fields refused
    for node in nodes(schema):
        assert set(node) <= GEMINI_KEYS, set(node) - GEMINI_KEYS
        if "anyOf" in node:
            assert set(node) == {"anyOf"} and len(node["anyOf"]) > 1, node
            assert all(branch.get("type") != "null" for branch in node["anyOf"])
            continue
        assert node["type"] in {"string", "integer", "number", "boolean", "array", "object"}
        if "enum" in node:
            assert node["type"] == "string" and node["format"] == "enum"
            assert all(isinstance(v, str) for v in node["enum"])
        if "properties" in node:
            assert node["properties"], "Gemini refuses empty properties"
        assert set(node.get("required", [])) <= set(node.get("properties", {}))
        assert (node["type"] == "array") == ("items" in node)


PERSON = Person.model_json_schema()
SCHEMAS = {
    "person": PERSON,
    "node": Node.model_json_schema(),
    "address": Address.model_json_schema(),
    "list-of-models": {"type": "array", "items": Address.model_json_schema()},
    "type-list": {"type": ["string", "integer", "null"], "minLength": 2, "minimum": 1},
    "self-ref": {"type": "object", "properties": {"next": {"$ref": "#"}, "v": {"type": "string"}}},
    "allOf": {
        "allOf": [
            {"properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer"}}, "required": ["b", "ghost"]},
        ]
    },
}


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_schema_fits_gemini_is_idempotent_and_left_untouched(name: str) -> None:
    schema = SCHEMAS[name]
    before = copy.deepcopy(schema)
    out = to_gemini(schema)
    assert schema == before
    assert_gemini_shape(out)
    assert to_gemini(out) == out
    assert json.dumps(to_gemini(copy.deepcopy(schema))) == json.dumps(out)
    assert "$ref" not in json.dumps(out) and "$defs" not in json.dumps(out)


def test_nested_models_are_inlined_with_their_descriptions_and_required_fields() -> None:
    props = to_gemini(PERSON)["properties"]
    assert props["name"] == {
        "type": "string", "description": "Full name", "minLength": 1, "maxLength": 80,
    }  # fmt: skip
    home = props["home"]
    assert home["type"] == "object" and home["description"] == "Where they live"
    assert home["required"] == ["street"]
    assert home["properties"]["zip"] == {
        "type": "string", "description": "Five digits", "pattern": r"^\d{5}$", "nullable": True,
    }  # fmt: skip
    # The model's own description where the field has none.
    assert props["other"]["items"]["description"] == "A postal address."
    assert props["other"]["minItems"] == 1 and props["other"]["maxItems"] == 5
    assert to_gemini(PERSON)["required"] == PERSON["required"]


def test_optional_fields_become_nullable_and_stay_optional() -> None:
    out = to_gemini(PERSON)
    assert out["properties"]["age"] == {"type": "integer", "nullable": True, "minimum": 0,
                                        "maximum": 150}  # fmt: skip
    work = out["properties"]["work"]
    assert work["type"] == "object" and work["nullable"] is True
    assert work["properties"]["street"] == {"type": "string"}
    assert "age" not in out["required"] and "work" not in out["required"]
    assert to_gemini({"type": ["string", "null"]}) == {"type": "string", "nullable": True}


def test_real_unions_stay_anyof_with_the_field_keywords_in_every_branch() -> None:
    code = to_gemini(PERSON)["properties"]["code"]
    assert code == {
        "anyOf": [
            {"type": "integer", "description": "Either form", "nullable": True},
            {"type": "string", "description": "Either form", "nullable": True},
        ]
    }
    # A type list: each keyword lands only where its type can use it.
    assert to_gemini(SCHEMAS["type-list"]) == {
        "anyOf": [
            {"type": "string", "nullable": True, "minLength": 2},
            {"type": "integer", "nullable": True, "minimum": 1},
        ]
    }


def test_oneof_discriminated_union_becomes_anyof() -> None:
    pet = to_gemini(PERSON)["properties"]["pet"]
    cat, dog = pet["anyOf"]
    assert cat["properties"]["kind"] == {"type": "string", "format": "enum", "enum": ["cat"]}
    assert cat["required"] == ["kind", "lives"] and dog["required"] == ["kind"]
    assert cat["properties"]["lives"] == {"type": "integer", "minimum": 0, "maximum": 9}


def test_allof_parts_are_merged_and_required_kept_to_real_properties() -> None:
    assert to_gemini(SCHEMAS["allOf"]) == {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    }
    # Pydantic v1's way of describing a referenced model.
    old = {
        "type": "object",
        "properties": {"home": {"allOf": [{"$ref": "#/definitions/A"}], "description": "Home"}},
        "definitions": {"A": {"type": "object", "properties": {"s": {"type": "string"}}}},
    }
    home = to_gemini(old)["properties"]["home"]
    assert home == {
        "type": "object", "description": "Home", "properties": {"s": {"type": "string"}},
    }  # fmt: skip


def test_enums_and_literals() -> None:
    props = to_gemini(PERSON)["properties"]
    assert props["color"] == {"type": "string", "format": "enum", "enum": ["red", "blue"]}
    assert props["mode"] == {"type": "string", "format": "enum", "enum": ["fast", "slow"]}
    # Gemini's enum holds strings only: integer choices keep their type, named in the text.
    assert props["size"] == {"type": "integer", "description": "Allowed values: 1, 2"}
    assert props["version"] == {"type": "integer", "description": "Allowed values: 2"}
    assert to_gemini({"enum": ["a", None]}) == {
        "type": "string", "format": "enum", "nullable": True, "enum": ["a"],
    }  # fmt: skip
    assert to_gemini({"type": "boolean", "const": True, "description": "Must agree"}) == {
        "type": "boolean", "description": "Must agree (Allowed values: true)",
    }  # fmt: skip


def test_formats_kept_only_where_gemini_accepts_them() -> None:
    props = to_gemini(PERSON)["properties"]
    assert props["when"] == {"type": "string", "format": "date-time"}
    assert props["email"] == {"type": "string"}
    assert to_gemini({"type": "integer", "format": "int64"}) == {"type": "integer"}


def test_bounds_exclusive_ones_folded_in() -> None:
    assert to_gemini(PERSON)["properties"]["score"] == {
        "type": "number", "minimum": 0, "maximum": 1.5,
    }  # fmt: skip
    exact = to_gemini({"type": "integer", "exclusiveMinimum": 2.5, "exclusiveMaximum": 7})
    assert exact == {"type": "integer", "minimum": 3, "maximum": 6}
    draft4 = {"type": "integer", "minimum": 0, "exclusiveMinimum": True, "maximum": 9.5}
    assert to_gemini(draft4) == {"type": "integer", "minimum": 1, "maximum": 9}
    assert to_gemini({"type": "string", "minimum": 3}) == {"type": "string"}


def test_arrays_any_values_and_tuples() -> None:
    props = to_gemini(PERSON)["properties"]
    assert props["scores"] == {"type": "array", "items": {"type": "integer"}, "minItems": 2}
    assert props["pair"]["items"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    anything = [{"type": t} for t in ("string", "number", "boolean", "object")]
    assert props["anything"] == {"anyOf": anything}
    assert to_gemini({"type": "array"})["items"] == {"anyOf": anything}
    # dict[str, int]: Gemini has no additionalProperties; any object is the nearest.
    assert props["tags"] == {"type": "object"}


def test_json_schema_only_keywords_are_dropped() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:x", "$comment": "c", "title": "T", "strict": True,
        "type": "object", "additionalProperties": False, "examples": [{}],
        "properties": {"q": {"type": "string", "title": "Q", "default": "x", "examples": ["y"],
                             "description": "Query"}},
        "required": ["q"],
    }  # fmt: skip
    assert to_gemini(schema) == {
        "type": "object",
        "properties": {"q": {"type": "string", "description": "Query"}},
        "required": ["q"],
    }


def depth_of(schema: dict) -> int:
    inner = [depth_of(s) for s in schema.get("properties", {}).values()]
    inner += [depth_of(schema["items"])] if "items" in schema else []
    return 1 + max(inner, default=0)


def test_recursive_models_are_cut_to_a_permissive_object() -> None:
    tree = to_gemini(Node.model_json_schema())
    assert tree["description"] == "A tree." and tree["required"] == ["name"]
    child = tree["properties"]["children"]["items"]
    assert child["properties"]["name"] == {"type": "string"}
    # Unrolled REF_DEPTH times (each level goes through `children` and its items), then cut.
    assert depth_of(tree) == 2 * REF_DEPTH + 1
    leaf = child
    for _ in range(REF_DEPTH - 1):
        leaf = leaf["properties"]["children"]["items"]
    assert leaf == {"type": "object"}
    assert tree["properties"]["parent"]["nullable"] is True
    looped = to_gemini(SCHEMAS["self-ref"])
    assert looped["properties"]["next"]["properties"]["v"] == {"type": "string"}


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#/$defs/Missing"},
        {"$ref": "https://example.com/other.json"},
        {"type": "object", "properties": {"x": False}},
        {"type": "file"},
        {"anyOf": [{"type": "string"}], "oneOf": [{"type": "integer"}]},
    ],
)
def test_what_gemini_cannot_express_is_refused(schema: dict) -> None:
    with pytest.raises(UnsupportedSchema):
        to_gemini(schema)


def test_exponential_inlining_is_refused() -> None:
    defs = {f"D{i}": {"type": "object", "properties": {
        "a": {"$ref": f"#/$defs/D{i + 1}"}, "b": {"$ref": f"#/$defs/D{i + 1}"}}}
        for i in range(20)}  # fmt: skip
    defs["D20"] = {"type": "string"}
    with pytest.raises(UnsupportedSchema):
        to_gemini({"$ref": "#/$defs/D0", "$defs": defs})


@pytest.mark.parametrize(
    ("schema", "empty"),
    [
        (None, True),
        ({}, True),
        ({"type": "object"}, True),
        ({"type": "object", "properties": {}, "required": []}, True),
        ({"type": "object", "additionalProperties": False, "title": "T"}, True),
        (NoArgs.model_json_schema(), True),
        ({"type": "object", "properties": {"a": {"type": "string"}}}, False),
        ({"type": "object", "additionalProperties": {"type": "string"}}, False),
        ({"type": "string"}, False),
        ({"$ref": "#/$defs/A", "$defs": {"A": {"type": "object"}}}, False),
    ],
)
def test_is_empty_object(schema: dict | None, empty: bool) -> None:
    assert is_empty_object(schema) is empty


def test_gemini_parameters() -> None:
    assert gemini_parameters(None) is None
    assert gemini_parameters(NoArgs.model_json_schema()) is None
    assert gemini_parameters({"type": "object", "additionalProperties": {"type": "integer"}}) == {
        "type": "object"
    }
    params = gemini_parameters(PERSON)
    assert params == to_gemini(PERSON)
    with pytest.raises(UnsupportedSchema):
        gemini_parameters({"type": "string"})


def test_anthropic_input_schema() -> None:
    assert to_anthropic_input_schema(None) == {"type": "object", "properties": {}}
    assert to_anthropic_input_schema({}) == {"type": "object", "properties": {}}
    no_args = NoArgs.model_json_schema()
    assert to_anthropic_input_schema(no_args) == {
        "type": "object", "properties": {}, "title": "NoArgs",
    }  # fmt: skip
    # Anthropic reads JSON Schema itself, $defs and $ref included: passed as it came.
    before = copy.deepcopy(PERSON)
    out = to_anthropic_input_schema(PERSON)
    assert out == before and out is not PERSON and before == PERSON
    out["properties"]["name"]["title"] = "changed"
    assert before == PERSON
    typeless = {"properties": {"a": {"type": "string"}}, "required": ["a"]}
    assert to_anthropic_input_schema(typeless) == {"type": "object", **typeless}
