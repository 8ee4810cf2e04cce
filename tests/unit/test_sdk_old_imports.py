"""Code written against the SDK's old home of the generated contract keeps working."""

import importlib
import sys

import pytest

from memoire_proto.v1 import memory_service_pb2


def test_the_old_import_path_gives_the_same_messages_with_a_warning():
    for name in [m for m in sys.modules if m == "memoire.v1" or m.startswith("memoire.v1.")]:
        del sys.modules[name]
    with pytest.warns(DeprecationWarning, match="memoire_proto.v1"):
        old = importlib.import_module("memoire.v1")
    assert old.memory_service_pb2.RecallRequest is memory_service_pb2.RecallRequest
    module = importlib.import_module("memoire.v1.memory_service_pb2")
    assert module.RecallRequest is memory_service_pb2.RecallRequest
