"""A deterministic example value for a JSON schema: the fakes' tool arguments and JSON answers.

For each property of an object, required or not, in order: string -> "<prop>-value" (or the
first enum value), integer -> 1 + the property's index, number -> 1.5, boolean -> true, array ->
[example(items)], object -> recursed, anyOf/oneOf -> the first non-null branch, $ref -> resolved
in $defs (or definitions). An object without properties is {}. Types may be lower case (JSON
Schema) or upper case (Gemini's OpenAPI subset); `enum` and `const` win over the type.
"""

from __future__ import annotations

from typing import Any

_MAX_DEPTH = 12  # a recursive $ref ends as null instead of looping


def example(schema: Any) -> Any:
    """The example value of `schema` (a top-level string is "value-value")."""
    defs: dict[str, Any] = {}
    if isinstance(schema, dict):
        for key in ("$defs", "definitions"):
            if isinstance(schema.get(key), dict):
                defs.update(schema[key])
    return _value(schema, "value", 0, defs, 0)


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    return defs.get(ref.rsplit("/", 1)[-1], {})


def _type(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), None)
    if isinstance(kind, str):
        return kind.lower()
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None


def _value(schema: Any, name: str, index: int, defs: dict[str, Any], depth: int) -> Any:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    schema = _resolve(schema, defs)
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf", "allOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            for branch in branches:
                resolved = _resolve(branch, defs) if isinstance(branch, dict) else branch
                if isinstance(resolved, dict) and _type(resolved) != "null":
                    return _value(resolved, name, index, defs, depth + 1)
            return None
    kind = _type(schema)
    if kind == "string":
        return f"{name}-value"
    if kind == "integer":
        return 1 + index
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "array":
        items = schema.get("items")
        return [_value(items, name, index, defs, depth + 1)] if isinstance(items, dict) else []
    if kind == "object":
        props = schema.get("properties")
        if not isinstance(props, dict):
            return {}
        items = enumerate(props.items())
        return {prop: _value(sub, prop, i, defs, depth + 1) for i, (prop, sub) in items}
    return None
