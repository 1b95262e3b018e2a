"""Tool and response_format JSON Schemas made acceptable to each provider, meaning kept."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

# Gemini's `parameters`/`responseSchema` take an OpenAPI 3.0 subset (the Schema message of
# generativelanguage v1beta): no $ref/$defs, no additionalProperties (the Developer API refuses
# it), no oneOf/allOf/const/exclusive bounds, enum values only as strings, `nullable` in place
# of a "null" type, and (on Vertex) `anyOf` as the only field of its node.

# A recursive $ref is unrolled this many times along one path, then cut to a permissive
# object: the subset has no references, so an unbounded tree cannot be written down.
REF_DEPTH = 3
# Inlining shared definitions can grow a schema exponentially; past these it is refused.
MAX_NODES = 5000
MAX_DEPTH = 64
# The Developer API fails on any other format (Firebase's Schema reference; LiteLLM keeps
# the same two). Numeric int32/int64/float/double are width hints only: dropped.
STRING_FORMATS = frozenset({"date-time"})
TYPES = frozenset({"string", "integer", "number", "boolean", "array", "object", "null"})
COUNTS = ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties")
# JSON Schema's "any value": the subset has no such type, so the nearest union stands in.
ANY_TYPES = ("string", "number", "boolean", "object")


class UnsupportedSchema(ValueError):
    """A schema Gemini's subset cannot express: an unresolvable $ref, a false schema, an
    unknown type, intersecting unions, or one too large once its references are inlined."""


def is_empty_object(schema: dict | None) -> bool:
    """True when a tool takes no arguments: None, {} or an object schema with no properties
    (and no union, reference or open `additionalProperties` that would admit some)."""
    if not schema:
        return True
    if schema.get("type", "object") != "object" or schema.get("properties"):
        return False
    if any(k in schema for k in ("$ref", "anyOf", "oneOf", "allOf", "items", "enum", "const")):
        return False
    return schema.get("additionalProperties", False) is False


def to_anthropic_input_schema(schema: dict | None) -> dict:
    """Anthropic takes JSON Schema as it is ($defs and $ref included) but wants an object at
    the top with `type` set; a tool with no arguments gets an empty `properties`."""
    out = copy.deepcopy(schema) if schema else {}
    if is_empty_object(schema):
        rest = {k: v for k, v in out.items() if k not in ("type", "properties", "required")}
        return {"type": "object", "properties": {}, **rest}
    return out if "type" in out else {"type": "object", **out}


def gemini_parameters(schema: dict | None) -> dict | None:
    """A function declaration's `parameters`, or None for a tool with no arguments: Gemini
    refuses `properties: {}` ("should be non-empty for OBJECT type") and lets it be omitted."""
    if is_empty_object(schema):
        return None
    assert schema is not None
    out = to_gemini(schema)
    if out.get("type") != "object":
        raise UnsupportedSchema("function parameters must be an object schema")
    return out


def to_gemini(schema: dict) -> dict:
    """`schema` rewritten in Gemini's subset: references inlined, nulls as `nullable`, unions
    as `anyOf`, keywords Gemini lacks dropped. Pure; idempotent; never mutates `schema`."""
    if not isinstance(schema, dict):
        raise UnsupportedSchema("a schema must be an object")
    return _Walk(schema).convert(schema, (), 0)


def _schema(node: Any) -> dict:
    if node is True:
        return {}
    if isinstance(node, dict):
        return node
    raise UnsupportedSchema("a schema that admits nothing cannot be sent to Gemini")


def _merge(first: dict, second: dict) -> dict:
    """Both schemas at once (allOf, or a $ref with siblings). Annotations and conflicting
    keywords come from `first`; properties and required lists are joined."""
    out = dict(first)
    for key, value in second.items():
        if key not in out:
            out[key] = value
        elif key == "properties" and isinstance(value, dict) and isinstance(out[key], dict):
            joined = dict(out[key])
            for name, sub in value.items():
                joined[name] = {"allOf": [joined[name], sub]} if name in joined else sub
            out[key] = joined
        elif key == "required" and isinstance(value, list) and isinstance(out[key], list):
            out[key] = list(dict.fromkeys([*out[key], *value]))
        elif key in ("anyOf", "oneOf") and value != out[key]:
            raise UnsupportedSchema("an intersection of two unions has no Gemini form")
    return out


def _key(schema: dict) -> str:
    return json.dumps(schema, sort_keys=True)


class _Walk:
    """One conversion: the root (for resolving references) and the size spent so far."""

    def __init__(self, root: dict) -> None:
        self.root = root
        self.nodes = 0

    def resolve(self, ref: Any) -> dict:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise UnsupportedSchema(f"$ref {ref!r}: only references inside the schema")
        node: Any = self.root
        for part in ref[1:].split("/")[1:]:
            key = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                raise UnsupportedSchema(f"$ref {ref!r} points nowhere")
        return _schema(node)

    def flatten(self, node: Any, refs: tuple[str, ...]) -> tuple[dict, tuple[str, ...]]:
        """`node` without $ref or allOf at its top, and the references expanded to get there."""
        node = _schema(node)
        while "$ref" in node or "allOf" in node:
            if "$ref" in node:
                ref = node["$ref"]
                siblings = {k: v for k, v in node.items() if k != "$ref"}
                if refs.count(ref) >= REF_DEPTH:
                    return _merge(siblings, {"type": "object"}), refs
                node = _merge(siblings, self.resolve(ref))
                refs = (*refs, ref)
            else:
                merged = {k: v for k, v in node.items() if k != "allOf"}
                for part in node["allOf"]:
                    flat, refs = self.flatten(part, refs)
                    merged = _merge(merged, flat)
                node = merged
        return node, refs

    def convert(self, node: Any, refs: tuple[str, ...], depth: int) -> dict:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            raise UnsupportedSchema("schema too large or too deep once its $refs are inlined")
        node, refs = self.flatten(node, refs)
        node = dict(node)
        nullable = node.pop("nullable", False) is True
        if "oneOf" in node:
            # Gemini has no oneOf; anyOf loses only the "exactly one" part.
            if "anyOf" in node:
                raise UnsupportedSchema("anyOf and oneOf together have no Gemini form")
            node["anyOf"] = node.pop("oneOf")
        kind = node.get("type")
        if isinstance(kind, list):
            kinds = [k for k in dict.fromkeys(kind) if k != "null"]
            nullable = nullable or len(kinds) < len(kind)
            node["type"] = kinds[0] if len(kinds) == 1 else "null"
            if len(kinds) > 1:
                if "anyOf" in node:
                    raise UnsupportedSchema("a type list beside anyOf has no Gemini form")
                del node["type"]
                node["anyOf"] = [{"type": k} for k in kinds]
        if "const" in node:
            node["enum"] = [node.pop("const")]
        if "anyOf" in node:
            return self.union(node, nullable, refs, depth)
        return self.single(node, nullable, refs, depth)

    def union(self, node: dict, nullable: bool, refs: tuple[str, ...], depth: int) -> dict:
        """anyOf: null branches become `nullable`, the node's other keywords go into every
        branch (S and (A or B) is (S and A) or (S and B)), so anyOf stands alone."""
        siblings = {k: v for k, v in node.items() if k != "anyOf"}
        flat_branches = []
        for branch in node["anyOf"]:
            flat, branch_refs = self.flatten(branch, refs)
            if flat.get("type") in ("null", ["null"]) or flat.get("enum") == [None]:
                nullable = True
            else:
                flat_branches.append((flat, branch_refs))
        if not flat_branches:
            return self.single({**siblings, "type": "null"}, False, refs, depth)
        branches: dict[str, dict] = {}
        for flat, branch_refs in flat_branches:
            out = self.convert(_merge(siblings, flat), branch_refs, depth + 1)
            for each in out.get("anyOf", [out]):
                each = {**each, "nullable": True} if nullable else each
                branches.setdefault(_key(each), each)
        if len(branches) == 1:
            return next(iter(branches.values()))
        return {"anyOf": list(branches.values())}

    def single(self, node: dict, nullable: bool, refs: tuple[str, ...], depth: int) -> dict:
        description = node.get("description")
        description = description if isinstance(description, str) and description else None
        kind = node.get("type")
        enum = None
        if isinstance(node.get("enum"), list):
            values = list(node["enum"])
            if None in values:
                nullable = True
                values = [v for v in values if v is not None]
            if not values:
                kind = "null"
            elif all(isinstance(v, str) for v in values) and kind in (None, "string"):
                kind, enum = "string", values
            else:
                # Gemini's enum holds strings only; turning 4 into "4" would change the
                # answer's type, so the values move to the description as a hint.
                hint = "Allowed values: " + ", ".join(json.dumps(v) for v in values)
                description = f"{description} ({hint})" if description else hint
                kind = kind or _kind_of(values)
        if kind is None:
            kind = "object" if "properties" in node else "array" if "items" in node else None
        if kind is None:
            return self.anything(description, nullable)
        if kind not in TYPES:
            raise UnsupportedSchema(f"type {kind!r} is not a JSON Schema type")
        out: dict[str, Any] = {"type": kind}
        if enum is not None:
            out["format"] = "enum"
        elif kind == "string" and node.get("format") in STRING_FORMATS:
            out["format"] = node["format"]
        if description:
            out["description"] = description
        if nullable:
            out["nullable"] = True
        if enum is not None:
            out["enum"] = enum
        if kind == "object":
            self.object_keywords(node, out, refs, depth)
        elif kind == "array":
            out["items"] = self.items(node, refs, depth)
        elif kind in ("integer", "number"):
            out.update(_bounds(node, kind))
        if kind == "string" and isinstance(node.get("pattern"), str):
            out["pattern"] = node["pattern"]
        for key in COUNTS:
            applies = {"array": "Items", "string": "Length", "object": "Properties"}.get(kind)
            value = node.get(key)
            if applies and key.endswith(applies) and _is_count(value):
                out[key] = int(value)
        return out

    def object_keywords(self, node: dict, out: dict, refs: tuple[str, ...], depth: int) -> None:
        props = node.get("properties")
        if isinstance(props, dict) and props:
            out["properties"] = {
                name: self.convert(sub, refs, depth + 1) for name, sub in props.items()
            }
            required = node.get("required")
            if isinstance(required, list):
                kept = [name for name in dict.fromkeys(required) if name in props]
                if kept:
                    out["required"] = kept

    def items(self, node: dict, refs: tuple[str, ...], depth: int) -> dict:
        """One schema for every element: tuples (prefixItems, or a list under items in older
        drafts) become a union of their positions, since the subset has no tuple form."""
        items, prefix = node.get("items"), node.get("prefixItems")
        if isinstance(items, list):
            items, prefix = None, items
        if isinstance(prefix, list) and prefix:
            rest = [items] if items not in (None, False) else []
            return self.convert({"anyOf": [*prefix, *rest]}, refs, depth + 1)
        return self.convert({} if items is None else items, refs, depth + 1)

    def anything(self, description: str | None, nullable: bool) -> dict:
        branches = []
        for kind in ANY_TYPES:
            branch: dict[str, Any] = {"type": kind}
            if description:
                branch["description"] = description
            if nullable:
                branch["nullable"] = True
            branches.append(branch)
        return {"anyOf": branches}


def _kind_of(values: list) -> str | None:
    if all(isinstance(v, bool) for v in values):
        return "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "integer"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "number"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value: Any) -> bool:
    return _is_number(value) and value >= 0 and float(value).is_integer()


def _bounds(node: dict, kind: str) -> dict:
    """minimum/maximum, with exclusive bounds (2020-12 numbers or draft-4 booleans) folded
    in: exact for integers; for numbers the bound itself becomes allowed, the nearest the
    subset can say."""
    out: dict[str, Any] = {}
    for bound, exclusive, pick in (
        ("minimum", "exclusiveMinimum", max),
        ("maximum", "exclusiveMaximum", min),
    ):
        value, flag = node.get(bound), node.get(exclusive)
        limits = [(value, flag is True)] if _is_number(value) else []
        if _is_number(flag):
            limits.append((flag, True))
        if kind == "integer":
            lower = bound == "minimum"
            limits = [(_integer_bound(limit, lower, strict), False) for limit, strict in limits]
        if limits:
            out[bound] = pick(limit for limit, _ in limits)
    return out


def _integer_bound(limit: float, lower: bool, strict: bool) -> int:
    """The integer bound that admits exactly the integers the original bound admits."""
    if lower:
        return math.floor(limit) + 1 if strict else math.ceil(limit)
    return math.ceil(limit) - 1 if strict else math.floor(limit)
