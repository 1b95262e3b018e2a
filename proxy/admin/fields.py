"""Fields and resources: what the admin API says about a thing, declared once.

A `Field` names a JSON property, its JSON Schema, the database column it comes from, how the
column's value is rendered (micro-cents as cents, timestamps as ISO 8601 UTC) and, for fields
an operator may set, the parser of its JSON value. A `Resource` is a named list of fields:
rendering a row, parsing a request body and the OpenAPI component all follow from it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.money import uc_to_cents, uc_to_usd_per_mtok
from proxy.admin.validation import (
    Parser,
    cents,
    invalid,
    nullable,
    reject_unknown,
    usd_per_mtok,
)

Schema = dict[str, Any]
Renderer = Callable[[Any], Any]

STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
NUM: Schema = {"type": "number"}
CENTS: Schema = {"type": "number", "description": "US cents, up to 6 decimals"}
USD: Schema = {"type": "number", "description": "USD per 1M tokens"}
# What `iso` writes: UTC, always with a Z; the pattern holds us to it, not only "a date-time".
TIME: Schema = {
    "type": "string",
    "format": "date-time",
    "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$",
}
MONTH: Schema = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}
DAY: Schema = {"type": "string", "format": "date"}
JSON_OBJECT: Schema = {"type": "object"}


def iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def iso_from_unix(seconds: int) -> str:
    return iso(dt.datetime.fromtimestamp(seconds, dt.UTC)) or ""


def month_text(value: dt.date) -> str:
    return value.strftime("%Y-%m")


def _same(value: Any) -> Any:
    return value


def _or_none(render: Renderer) -> Renderer:
    def render_or_none(value: Any) -> Any:
        return None if value is None else render(value)

    return render_or_none


def nullable_schema(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def enum(*values: str) -> Schema:
    return {"enum": list(values)}


@dataclass(frozen=True, slots=True)
class Field:
    """One JSON property of a resource."""

    name: str
    schema: Schema
    column: str | None = None  # None: the column has the field's name
    parse: Parser | None = None  # set for fields an operator may write
    render: Renderer = _same
    # Not in every answer (the plaintext key, the key figures of a key's usage): left out of
    # `required` and of render() by default; the route adds it where it belongs.
    optional: bool = False

    @property
    def source(self) -> str:
        return self.column or self.name


def money(
    name: str, column: str, *, null: bool = False, writable: bool = False, optional: bool = False
) -> Field:
    """Integer micro-cents in the column, cents in JSON (in both directions when writable)."""
    return Field(
        name,
        nullable_schema(CENTS) if null else CENTS,
        column,
        parse=(nullable(cents) if null else cents) if writable else None,
        render=_or_none(uc_to_cents) if null else uc_to_cents,
        optional=optional,
    )


def price(name: str, *, null: bool = True) -> Field:
    """A price: integer uc per 1M tokens in `<name>_uc_per_mtok`, USD per 1M tokens in JSON."""
    return Field(
        name,
        nullable_schema(USD) if null else USD,
        f"{name}_uc_per_mtok",
        parse=usd_per_mtok,
        render=_or_none(uc_to_usd_per_mtok),
    )


def timestamp(name: str, column: str | None = None, *, null: bool = False) -> Field:
    return Field(name, nullable_schema(TIME) if null else TIME, column, render=iso)


def month(name: str = "month", column: str | None = None) -> Field:
    return Field(name, MONTH, column, render=month_text)


def nested(
    name: str, resource: Resource, *, many: bool = False, column: str | None = None
) -> Field:
    """A resource inside a resource, rendered from its own row (or rows, when `many`)."""
    if many:
        return Field(name, array(resource), column, render=resource.render_all)
    return Field(name, resource.ref, column, render=resource.render)


@dataclass(frozen=True, slots=True)
class Resource:
    """A named list of fields: an OpenAPI component, a renderer of rows, a body parser."""

    name: str
    fields: tuple[Field, ...]

    @property
    def ref(self) -> Schema:
        return {"$ref": f"#/components/schemas/{self.name}"}

    def field(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(f"{self.name} has no field {name!r}")

    def _chosen(self, names: Iterable[str] | None, *, writable: bool = False) -> list[Field]:
        if names is None:
            return [f for f in self.fields if not f.optional and (f.parse or not writable)]
        wanted = set(names)
        unknown = wanted - {f.name for f in self.fields}
        assert not unknown, f"{self.name} has no fields {sorted(unknown)}"
        return [f for f in self.fields if f.name in wanted]  # always in declaration order

    def writable(self) -> tuple[str, ...]:
        return tuple(f.name for f in self._chosen(None, writable=True))

    def columns(self, names: Iterable[str] | None = None) -> tuple[str, ...]:
        return tuple(f.source for f in self._chosen(names))

    def render(self, row: Mapping[str, Any], *, fields: Iterable[str] | None = None) -> dict:
        """The JSON of one row: every field that is always present, or the named ones."""
        return {f.name: f.render(row[f.source]) for f in self._chosen(fields)}

    def render_all(self, rows: Iterable[Mapping[str, Any]]) -> list[dict]:
        return [self.render(row) for row in rows]

    def parse(
        self,
        body: Mapping[str, Any],
        *,
        fields: Collection[str] | None = None,
        required: Collection[str] = (),
    ) -> dict[str, Any]:
        """The writable fields present in `body`, parsed, keyed by column.

        Any other field in the body is refused (400 naming it); fields are parsed in the order
        they are declared, so the first bad one is the one the 400 names."""
        chosen = self._chosen(fields if fields is not None else self.writable())
        reject_unknown(body, {f.name for f in chosen})
        values = {
            field.source: self.parse_field(field.name, body[field.name])
            for field in chosen
            if field.name in body
        }
        for name in required:
            if self.field(name).source not in values:
                raise invalid(name, "is required")
        return values

    def parse_field(self, name: str, value: Any, *, label: str | None = None) -> Any:
        """One writable field's value; `label` is what the 400 calls it (default: its name)."""
        parse = self.field(name).parse
        assert parse is not None, f"{self.name}.{name} is not writable"
        return parse(label or name, value)

    def schema(self) -> Schema:
        """The component: every field, the always-present ones required, nothing else allowed."""
        return strict_object(
            {f.name: f.schema for f in self.fields},
            optional=[f.name for f in self.fields if f.optional],
        )

    def input_schema(
        self, fields: Iterable[str] | None = None, *, required: Collection[str] = ()
    ) -> Schema:
        """A request body of the named writable fields (all of them by default)."""
        chosen = self._chosen(fields if fields is not None else self.writable())
        properties = {f.name: f.schema for f in chosen}
        return strict_object(properties, optional=[n for n in properties if n not in required])


def schema_of(value: Schema | Resource) -> Schema:
    return value.ref if isinstance(value, Resource) else value


def array(items: Schema | Resource) -> Schema:
    return {"type": "array", "items": schema_of(items)}


def strict_object(
    properties: Mapping[str, Schema | Resource], *, optional: Collection[str] = ()
) -> Schema:
    """An object of exactly these properties; all required but the `optional` ones."""
    schema: Schema = {
        "type": "object",
        "properties": {name: schema_of(value) for name, value in properties.items()},
        "additionalProperties": False,
    }
    required = [name for name in properties if name not in optional]
    if required:
        schema["required"] = required
    return schema
