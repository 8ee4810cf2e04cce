"""The Mémoire contract as Python code, generated from proto/memoire/v1.

``memoire_proto.v1`` holds the protobuf messages and gRPC stubs and servicers; the server and the
Python SDK both depend on this package, so neither's packaging is the other's.
"""
