"""Build the OpenAPI 3 document of the JSON/HTTP API from the google.api.http annotations.

Reads the contract as a descriptor set with comments (scripts/build_descriptor.py) and writes
``openapi/memoire.v1.yaml``: one operation per HTTP route of the two services, with the JSON
Envoy's transcoder speaks (proto field names, enums as names, int64 as strings, timestamps as
RFC 3339), errors as ``google.rpc.Status``, and Envoy's own ``GET /healthz``.

Usage (from any directory, in an environment with grpcio-tools and PyYAML)::

    python scripts/build_openapi.py          # rewrite openapi/memoire.v1.yaml
    python scripts/build_openapi.py --check  # exit 1 if the committed document is stale

Never edit the document by hand: change the protos and run ``make generate``.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from google.api import annotations_pb2, http_pb2  # type: ignore[import-untyped]
from google.protobuf import descriptor_pb2

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT = REPO_ROOT / "openapi" / "memoire.v1.yaml"
PACKAGE = "memoire.v1"
VERBS = ("get", "put", "post", "delete", "patch")
FieldType = descriptor_pb2.FieldDescriptorProto
# The JSON of each scalar type as proto3 JSON (and so Envoy) writes it.
SCALARS: dict[int, dict[str, Any]] = {
    FieldType.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldType.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldType.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldType.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldType.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldType.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    FieldType.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FieldType.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldType.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldType.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldType.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    FieldType.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    FieldType.TYPE_BOOL: {"type": "boolean"},
    FieldType.TYPE_STRING: {"type": "string"},
    FieldType.TYPE_BYTES: {"type": "string", "format": "byte"},
}
# Well-known types have JSON forms of their own.
WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?\d+(\.\d+)?s$"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": True,
    },
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
}
STATUS = "google.rpc.Status"
# google/rpc/status.proto is not part of the descriptor set (Envoy builds the Status itself).
STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A failure: its gRPC code, a message for developers, and details such as "
    "google.rpc.ErrorInfo (a fixed UPPER_SNAKE reason) and google.rpc.BadRequest.",
    "properties": {
        "code": {"type": "integer", "format": "int32", "description": "The google.rpc.Code."},
        "message": {"type": "string"},
        "details": {"type": "array", "items": WELL_KNOWN["google.protobuf.Any"]},
    },
}


def _load_build_descriptor() -> Any:
    """scripts/build_descriptor.py as a module (scripts/ is not a package)."""
    path = REPO_ROOT / "scripts" / "build_descriptor.py"
    spec = importlib.util.spec_from_file_location("build_descriptor", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    """The contract with its comments; the google.api.http options are parsed."""
    # Importing annotations_pb2 registers the http extension, so ParseFromString reads it.
    assert annotations_pb2.http is not None
    parsed = descriptor_pb2.FileDescriptorSet()
    parsed.ParseFromString(_load_build_descriptor().build(include_source_info=True))
    return parsed


class Contract:
    """The messages, enums and comments of a descriptor set, by full name."""

    def __init__(self, files: descriptor_pb2.FileDescriptorSet) -> None:
        self.messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self.enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
        self.comments: dict[str, str] = {}
        self.files = list(files.file)
        for file in self.files:
            self._index_file(file)

    def _index_file(self, file: descriptor_pb2.FileDescriptorProto) -> None:
        by_path = {tuple(loc.path): loc.leading_comments for loc in file.source_code_info.location}
        for i, message in enumerate(file.message_type):
            self._index_message(f"{file.package}.{message.name}", message, (4, i), by_path)
        for i, enum in enumerate(file.enum_type):
            self.enums[f"{file.package}.{enum.name}"] = enum
            self._comment(f"{file.package}.{enum.name}", by_path.get((5, i)))
        for i, service in enumerate(file.service):
            self._comment(f"{file.package}.{service.name}", by_path.get((6, i)))
            for j, method in enumerate(service.method):
                name = f"{file.package}.{service.name}.{method.name}"
                self._comment(name, by_path.get((6, i, 2, j)))

    def _index_message(
        self,
        name: str,
        message: descriptor_pb2.DescriptorProto,
        path: tuple[int, ...],
        by_path: dict[tuple[int, ...], str],
    ) -> None:
        self.messages[name] = message
        self._comment(name, by_path.get(path))
        for i, field in enumerate(message.field):
            self._comment(f"{name}.{field.name}", by_path.get((*path, 2, i)))
        for i, nested in enumerate(message.nested_type):
            self._index_message(f"{name}.{nested.name}", nested, (*path, 3, i), by_path)
        for i, enum in enumerate(message.enum_type):
            self.enums[f"{name}.{enum.name}"] = enum
            self._comment(f"{name}.{enum.name}", by_path.get((*path, 4, i)))

    def _comment(self, name: str, text: str | None) -> None:
        if text and text.strip():
            lines = (line.strip() for line in text.strip().splitlines())
            self.comments[name] = " ".join(line for line in lines if line)

    def services(self) -> list[tuple[str, descriptor_pb2.ServiceDescriptorProto]]:
        return [
            (f"{file.package}.{service.name}", service)
            for file in self.files
            if file.package == PACKAGE
            for service in file.service
        ]


class Schemas:
    """components/schemas: each message the routes reach, as proto3 JSON writes it."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.schemas: dict[str, dict[str, Any]] = {}

    def ref(self, full_name: str) -> dict[str, Any]:
        """A reference to a message's schema, adding the schema on first use."""
        if full_name in WELL_KNOWN:
            return dict(WELL_KNOWN[full_name])
        if full_name not in self.schemas:
            self.schemas[full_name] = {}  # placeholder against recursion
            self.schemas[full_name] = self._message(full_name)
        return {"$ref": f"#/components/schemas/{full_name}"}

    def _message(self, full_name: str) -> dict[str, Any]:
        if full_name == STATUS:
            return STATUS_SCHEMA
        message = self.contract.messages[full_name]
        schema: dict[str, Any] = {"type": "object"}
        if full_name in self.contract.comments:
            schema["description"] = self.contract.comments[full_name]
        schema["properties"] = {field.name: self.field(full_name, field) for field in message.field}
        return schema

    def field(self, owner: str, field: descriptor_pb2.FieldDescriptorProto) -> dict[str, Any]:
        """The schema of one field, with its comment."""
        schema = self._value(field)
        if field.label == FieldType.LABEL_REPEATED:
            entry = self._map_entry(field)
            if entry is not None:
                schema = {"type": "object", "additionalProperties": self._value(entry.field[1])}
            else:
                schema = {"type": "array", "items": schema}
        comment = self.contract.comments.get(f"{owner}.{field.name}")
        if comment:
            # A $ref cannot carry siblings in OpenAPI 3.0: wrap it.
            schema = (
                {"allOf": [schema], **{"description": comment}}
                if "$ref" in schema
                else {
                    **schema,
                    "description": comment,
                }
            )
        return schema

    def _value(self, field: descriptor_pb2.FieldDescriptorProto) -> dict[str, Any]:
        if field.type == FieldType.TYPE_MESSAGE:
            entry = self._map_entry(field)
            return self.ref(field.type_name.lstrip(".")) if entry is None else {}
        if field.type == FieldType.TYPE_ENUM:
            enum = self.contract.enums[field.type_name.lstrip(".")]
            return {"type": "string", "enum": [value.name for value in enum.value]}
        return dict(SCALARS[field.type])

    def _map_entry(self, field: descriptor_pb2.FieldDescriptorProto) -> Any:
        if field.type != FieldType.TYPE_MESSAGE:
            return None
        message = self.contract.messages.get(field.type_name.lstrip("."))
        return message if message is not None and message.options.map_entry else None


def bindings(rule: http_pb2.HttpRule) -> list[tuple[str, str, str]]:
    """(verb, path, body) of a rule and its additional bindings."""
    found = []
    for binding in (rule, *rule.additional_bindings):
        verb = binding.WhichOneof("pattern")
        if verb in VERBS:
            found.append((verb, str(getattr(binding, verb)), binding.body))
    return found


def path_fields(path: str) -> list[str]:
    """The request fields a path template binds: ``/v1/memories/{memory_id}``."""
    return [name.split("=")[0] for name in re.findall(r"{([^}]+)}", path)]


def openapi_path(path: str) -> str:
    """A path template as OpenAPI writes it: ``{name=users/*}`` becomes ``{name}``."""
    return re.sub(r"{([^}=]+)=[^}]*}", r"{\1}", path)


def operation(
    schemas: Schemas,
    service: str,
    method: descriptor_pb2.MethodDescriptorProto,
    verb: str,
    path: str,
    body: str,
) -> dict[str, Any]:
    """One OpenAPI operation for an HTTP binding of an RPC."""
    contract = schemas.contract
    request_name = method.input_type.lstrip(".")
    request = contract.messages[request_name]
    bound = path_fields(path)
    parameters = [
        {"name": name, "in": "path", "required": True, **_parameter(schemas, request_name, name)}
        for name in bound
    ]
    op: dict[str, Any] = {
        "operationId": f"{service.rsplit('.', 1)[1]}_{method.name}",
        "tags": [service.rsplit(".", 1)[1]],
        "summary": contract.comments.get(f"{service}.{method.name}", method.name),
    }
    if body == "*":
        op["requestBody"] = _json_body(schemas.ref(request_name))
    elif body:
        (field,) = [f for f in request.field if f.name == body]
        op["requestBody"] = _json_body(schemas.field(request_name, field))
    else:
        parameters += [
            {
                "name": f.name,
                "in": "query",
                "required": False,
                **_parameter(schemas, request_name, f.name),
            }
            for f in request.field
            if f.name not in bound and f.type != FieldType.TYPE_MESSAGE
        ]
    if parameters:
        op["parameters"] = parameters
    op["responses"] = {
        "200": _reply(schemas.ref(method.output_type.lstrip(".")), method.server_streaming),
        "default": {
            "description": "A failure: the HTTP status of its gRPC code and its google.rpc.Status.",
            "content": {"application/json": {"schema": schemas.ref(STATUS)}},
        },
    }
    return op


def _parameter(schemas: Schemas, request_name: str, name: str) -> dict[str, Any]:
    (field,) = [f for f in schemas.contract.messages[request_name].field if f.name == name]
    schema = schemas.field(request_name, field)
    description = schema.pop("description", None)
    return {"schema": schema, **({"description": description} if description else {})}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _reply(schema: dict[str, Any], streaming: bool) -> dict[str, Any]:
    if streaming:
        return {
            "description": "One JSON object per line, as the server streams them.",
            "content": {"application/x-ndjson": {"schema": schema}},
        }
    return {"description": "The reply.", "content": {"application/json": {"schema": schema}}}


def document(files: descriptor_pb2.FileDescriptorSet) -> dict[str, Any]:
    """The OpenAPI document of every google.api.http route of the package."""
    contract = Contract(files)
    schemas = Schemas(contract)
    paths: dict[str, dict[str, Any]] = {}
    tags = []
    for service_name, service in contract.services():
        tags.append({"name": service.name, "description": contract.comments.get(service_name, "")})
        for method in service.method:
            rule = method.options.Extensions[annotations_pb2.http]
            for verb, path, body in bindings(rule):
                op = operation(schemas, service_name, method, verb, path, body)
                paths.setdefault(openapi_path(path), {})[verb] = op
    schemas.ref(STATUS)
    paths["/healthz"] = {"get": _healthz()}
    tags.append({"name": "Health", "description": "Envoy's own health route."})
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Mémoire JSON/HTTP API",
            "version": "v1",
            "description": (
                "Generated from the google.api.http annotations of proto/memoire/v1 by "
                "scripts/build_openapi.py; do not edit. Served by Envoy's gRPC-JSON transcoder "
                "(envoy/envoy.yaml) beside gRPC, gRPC-web and Connect. Unknown query parameters "
                "are refused with 400; unknown body fields are ignored, as proto3 JSON does."
            ),
        },
        "servers": [{"url": "http://127.0.0.1:8080", "description": "docker-compose's Envoy"}],
        "security": [{"apiKey": []}, {"bearer": []}],
        "tags": tags,
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": dict(sorted(schemas.schemas.items())),
        },
    }


def _healthz() -> dict[str, Any]:
    return {
        "operationId": "Envoy_Healthz",
        "tags": ["Health"],
        "summary": "200 while the server's gRPC health service says SERVING (Envoy checks it).",
        "security": [],
        "responses": {
            "200": {"description": "Serving."},
            "503": {
                "description": "Not serving, or not reachable.",
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{STATUS}"}}
                },
            },
        },
    }


def render(files: descriptor_pb2.FileDescriptorSet) -> str:
    header = "# Generated by scripts/build_openapi.py from proto/memoire/v1: do not edit.\n"
    body = yaml.safe_dump(document(files), sort_keys=False, allow_unicode=True, width=100)
    return header + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the document is stale")
    parser.add_argument("--out", type=Path, default=OUTPUT, help="where to write it")
    args = parser.parse_args(argv)

    text = render(descriptor_set())
    current = args.out.read_text() if args.out.exists() else ""
    if args.check:
        if text != current:
            print(f"{args.out} is stale: run python scripts/build_openapi.py", file=sys.stderr)
            return 1
        return 0
    if text != current:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
