"""Server reflection under both names tools use, ``grpc.reflection.v1`` and ``v1alpha``.

grpcio-reflection serves only v1alpha, and its descriptor pool cannot find a method by name
(``grpcurl describe memoire.v1.MemoryService.Recall``). v1 is the same protocol under a new
package (every message and field number unchanged), so one servicer answers both names.
"""

from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha._async import ReflectionServicer

V1ALPHA_SERVICE = reflection.SERVICE_NAME
V1_PACKAGE = "grpc.reflection.v1"
V1_SERVICE = f"{V1_PACKAGE}.ServerReflection"
SERVICE_NAMES = (V1_SERVICE, V1ALPHA_SERVICE)


def _v1_file(pool: descriptor_pool.DescriptorPool) -> FileDescriptor:
    """``grpc/reflection/v1/reflection.proto``, made from v1alpha's file by renaming its package."""
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name = "grpc/reflection/v1/reflection.proto"
    proto.package = V1_PACKAGE
    for message in proto.message_type:
        for field in message.field:
            if field.type_name.startswith(".grpc.reflection.v1alpha."):
                field.type_name = field.type_name.replace(".v1alpha.", ".v1.", 1)
    for method in proto.service[0].method:
        method.input_type = method.input_type.replace(".v1alpha.", ".v1.", 1)
        method.output_type = method.output_type.replace(".v1alpha.", ".v1.", 1)
    pool.Add(proto)
    return pool.FindFileByName(proto.name)


class ServicePool:
    """The process's descriptor pool as reflection needs it: methods are symbols too, and the
    v1 reflection file is known without being added to the process-wide pool."""

    def __init__(self) -> None:
        self._default = descriptor_pool.Default()
        self._own = descriptor_pool.DescriptorPool()
        self._v1 = _v1_file(self._own)

    def FindFileContainingSymbol(self, name: str) -> FileDescriptor:
        """The file defining ``name``: a message, enum, service or a service's method."""
        for pool in (self._default, self._own):
            try:
                return pool.FindFileContainingSymbol(name)
            except KeyError:
                pass
            parent, _, method = name.rpartition(".")
            try:
                service = pool.FindServiceByName(parent)
            except KeyError:
                continue
            if method in service.methods_by_name:
                return service.file
        raise KeyError(name)

    def FindFileByName(self, name: str) -> FileDescriptor:
        if name == self._v1.name:
            return self._v1
        return self._default.FindFileByName(name)

    def __getattr__(self, name: str) -> Any:
        # Extension look-ups and the rest go to the process-wide pool, where our files live.
        return getattr(self._default, name)


def enable(server: grpc.aio.Server, service_names: tuple[str, ...]) -> None:
    """Serve reflection of ``service_names`` (and of reflection itself) under v1 and v1alpha."""
    servicer = ReflectionServicer((*service_names, *SERVICE_NAMES), ServicePool())
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    # v1 messages are byte for byte v1alpha's, so v1alpha's classes read and write them.
    v1_handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(V1_SERVICE, {"ServerReflectionInfo": v1_handler}),)
    )
