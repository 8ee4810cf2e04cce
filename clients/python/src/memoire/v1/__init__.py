"""Where the generated contract used to live: it is ``memoire_proto.v1`` now (the
``memoire-proto`` package). Imports from here keep working, with a DeprecationWarning."""

import sys
import warnings

from memoire_proto.v1 import (
    account_pb2,
    account_pb2_grpc,
    account_service_pb2,
    account_service_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
    memory_service_pb2,
    memory_service_pb2_grpc,
)

__all__ = [
    "account_pb2",
    "account_pb2_grpc",
    "account_service_pb2",
    "account_service_pb2_grpc",
    "memory_pb2",
    "memory_pb2_grpc",
    "memory_service_pb2",
    "memory_service_pb2_grpc",
]

warnings.warn(
    "memoire.v1 has moved to memoire_proto.v1; import the generated modules from there",
    DeprecationWarning,
    stacklevel=2,
)
# `import memoire.v1.memory_pb2` finds the same module objects, so messages stay one type.
for _name in __all__:
    sys.modules[f"{__name__}.{_name}"] = globals()[_name]
