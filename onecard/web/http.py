"""What the HTTP layers (staff API, citizen API, pages) share about reading requests.

The database stores identifiers and counts as 32-bit INTEGER and money in fen as 64-bit BIGINT. A number a
client sends that cannot fit is refused where it is read — as 404 in a URL, as a 422 naming the field in
arguments — instead of reaching the driver, where SQLite raises OverflowError and PostgreSQL "integer out
of range", both of which would otherwise be a 500. Text with a NUL byte, which PostgreSQL cannot store, is
refused the same way.
"""
from __future__ import annotations

from datetime import UTC

import flask_smorest
from apispec import BasePlugin
from flask import request
from flask.sessions import SecureCookieSessionInterface
from marshmallow import Schema, fields, validate
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter, UnicodeConverter

from onecard.errors import Invalid

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def int_bound(name: str) -> int:
    """Money columns (``*_fen``) are BIGINT; every other integer column is INTEGER."""
    return INT64_MAX if name.endswith("_fen") else INT32_MAX


def form_int(raw: object) -> int | None:
    """A whole number typed or picked in a page's form or a plain query (a row id, a page, a year), or None.

    ASCII digits only (``str.isdigit`` also passes "１２３" and "²", which ``int`` reads differently or not at
    all) and within INTEGER, so a form never sends the database a number it cannot hold.
    """
    text = raw.strip() if isinstance(raw, str) else ""
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if value <= INT32_MAX else None


def form_ints(raws) -> list[int]:
    """``form_int`` of each value of a multi-valued field (checkboxes), dropping what is not an id."""
    return [v for v in map(form_int, raws) if v is not None]


class UnreadableText(BadRequest):
    """A page's form or query value holding a NUL byte: 400 with a message for people, naming the field."""
    for_people = True

    def __init__(self, field: str):
        super().__init__(f"提交的内容中含有无法识别的字符（字段 {field[:40]}），请删除后重新填写")
        self.field = field


def refuse_unreadable_text() -> None:
    """``before_request`` of the page areas (H5, console), whose forms are read field by field rather than
    through the API's parser: a NUL byte in any value or file name is refused before a view sees it."""
    for source in (request.args, request.form):
        for name, value in source.items(multi=True):
            if "\x00" in value or "\x00" in name:
                raise UnreadableText(name.replace("\x00", ""))
    for name, upload in request.files.items(multi=True):
        if "\x00" in (upload.filename or ""):
            raise UnreadableText(name)


class BoundedIntConverter(IntegerConverter):
    """``<int:…>`` that does not match a number no row can have (→ 404, as for any unknown id)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", INT32_MAX)
        super().__init__(map, *args, **kwargs)


class CleanStringConverter(UnicodeConverter):
    """``<string:…>`` that does not match a part with a NUL byte (→ 404): no stored key has one."""

    def __init__(self, map, *args, **kwargs):
        super().__init__(map, *args, **kwargs)
        self.regex = self.regex.replace("[^/]", "[^/\\x00]")


def _check(schema: Schema, data, path: str = "") -> None:
    if not isinstance(data, dict):
        return
    for name, field in schema.fields.items():
        key = field.attribute or name
        if key not in data:
            continue
        label = f"{path}{field.data_key or name}"
        _check_value(field, data[key], label, field.data_key or name)


def _check_value(field, value, label: str, name: str) -> None:
    if isinstance(value, str) and "\x00" in value:
        # No text column can hold a NUL (PostgreSQL refuses it outright); no real input carries one.
        raise Invalid("含有不允许的控制字符", code="invalid_characters", field=label)
    if isinstance(field, fields.Integer) and isinstance(value, int) and not isinstance(value, bool):
        bound = int_bound(name)
        if not -bound - 1 <= value <= bound:
            raise Invalid("数值超出允许范围", code="value_out_of_range", field=label)
    elif isinstance(field, fields.List) and isinstance(value, list):
        for i, item in enumerate(value):
            _check_value(field.inner, item, f"{label}.{i}", name)
    elif isinstance(field, fields.Nested) and field.schema is not None:
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            _check(field.schema, item, f"{label}.{i}." if isinstance(value, list) else f"{label}.")


class PlainIntegerQuery(Schema):
    """A query schema whose fields are all whole numbers, each with an inclusive ``validate.Range``.

    BoundedParser reads such a query itself when every value given is plain ASCII digits within its range
    (what a client sends): marshmallow would load exactly those numbers, and building its load costs more
    than the query behind "my subsidies". Anything else (a sign, a space, an empty or out-of-range value)
    goes through marshmallow, which answers with its own messages. Unknown names are ignored and a
    repeated name is read at its first value, as webargs does.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.plain_fields = []      # (query name, argument name, default, low, high)
        for name, field in self.fields.items():
            ranges = [v for v in field.validators if isinstance(v, validate.Range)]
            if not (type(field) is fields.Integer and not field.strict and len(field.validators) == 1
                    and len(ranges) == 1 and ranges[0].min_inclusive and ranges[0].max_inclusive
                    and ranges[0].min is not None and ranges[0].max is not None):
                raise TypeError(f"{type(self).__name__}.{name}: only integers with one inclusive Range")
            self.plain_fields.append((field.data_key or name, field.attribute or name, field.load_default,
                                      ranges[0].min, ranges[0].max))

    def plain_load(self, query) -> dict | None:
        """The arguments when every value given is plain digits within its range; None otherwise."""
        args = {}
        for key, name, default, low, high in self.plain_fields:
            raw = query.get(key)
            if raw is None:
                args[name] = default
            elif raw.isascii() and raw.isdigit() and len(raw) <= 10 and low <= (value := int(raw)) <= high:
                args[name] = value
            else:
                return None
        return args


class BoundedParser(FlaskParser):
    def parse(self, argmap, req=None, **kwargs):
        if isinstance(argmap, PlainIntegerQuery) and kwargs.get("location") == "query" and not kwargs.get("validate"):
            plain = argmap.plain_load((req or request).args)
            if plain is not None:
                return plain
        data = super().parse(argmap, req, **kwargs)
        if isinstance(argmap, type) and issubclass(argmap, Schema):
            argmap = argmap()          # flask-smorest hands over the class
        if isinstance(argmap, Schema):
            _check(argmap, data)
        return data


class Blueprint(flask_smorest.Blueprint):
    """The project's API blueprint: flask-smorest's, reading arguments through ``BoundedParser``."""
    ARGUMENTS_PARSER = BoundedParser()


class MultipartFormPlugin(BasePlugin):
    """An upload that takes form fields beside its files is two ``@bp.arguments`` (form, files); flask-smorest
    documents the files as the multipart request body and the form fields as ``in: formData`` parameters, which
    OpenAPI 3 does not have (the document was invalid, issue #16). This moves those fields into the multipart
    body's schema, where OpenAPI 3 puts them."""

    def init_spec(self, spec):
        super().init_spec(spec)
        self.spec = spec

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            params = operation.get("parameters") or []
            form = [p for p in params if isinstance(p, dict) and p.get("in") == "formData"]
            if not form:
                continue
            operation["parameters"] = [p for p in params if p not in form]
            if not operation["parameters"]:
                del operation["parameters"]
            fields_schema = {"type": "object", "properties": {}, "required": []}
            for p in form:
                schema = dict(p.get("schema") or {"type": "string"})
                if p.get("description"):
                    schema["description"] = p["description"]
                fields_schema["properties"][p["name"]] = schema
                if p.get("required"):
                    fields_schema["required"].append(p["name"])
            if not fields_schema["required"]:
                del fields_schema["required"]
            body = operation.setdefault("requestBody", {"required": True, "content": {}})
            content = body.setdefault("content", {})
            files = content.pop("multipart/form-data", {}).get("schema") or {}
            ref = files.get("$ref", "")
            if ref.startswith("#/components/schemas/"):   # one flat object: generators choke on allOf of a file
                files = self.spec.components.schemas.get(ref.rsplit("/", 1)[1], {})
            fields_schema["properties"] = {**files.get("properties", {}), **fields_schema["properties"]}
            required = [*files.get("required", []), *fields_schema.get("required", [])]
            if required:
                fields_schema["required"] = required
            content["multipart/form-data"] = {"schema": fields_schema}


class UtcDateTime(fields.DateTime):
    """A naive-UTC timestamp (how the database keeps them) sent as RFC 3339 with its offset, as ``date-time``
    requires."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


class StrictBoolean(fields.Boolean):
    """JSON true or false only: marshmallow's Boolean also takes 0, 1, "yes"... (0 == False even in a set)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"description": "稳定的错误代码，如 sheet_invalid"})
    message = fields.String(required=True, metadata={"description": "中文说明"})
    field = fields.String(allow_none=True, metadata={"description": "出错的字段（无则为 null）"})
    details = fields.Raw(metadata={"description": "逐行或逐字段的细节"})
    request_id = fields.String(metadata={"description": "系统内部错误的编号"})


class ErrorSchema(Schema):
    """What every error answer is (onecard.web.errors): documented so clients and schemathesis see the real shape."""
    error = fields.Nested(ErrorBodySchema, required=True)


class Api(flask_smorest.Api):
    """flask-smorest's Api with the project's error shape and documentation plugins (valid OpenAPI 3 uploads)."""
    ERROR_SCHEMA = ErrorSchema

    def _init_spec(self, *args, **kwargs):
        super()._init_spec(*args, **kwargs)
        plugin = MultipartFormPlugin()
        plugin.init_spec(self.spec)
        self.spec.plugins.append(plugin)


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, building its signing serializer only for a request that carries the
    cookie: every API request (a bearer token, no cookie) would otherwise pay for a serializer it never uses
    (measured on "my subsidies": a tenth of the view's time). Same sessions, same answers."""

    def open_session(self, app, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)
