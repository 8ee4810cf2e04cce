"""Admission before any handler runs: rate limits per API key and the failed-auth guard."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any
from urllib.parse import unquote

import grpc

from memoire_core.errors import MemoireError
from memoire_proto.v1 import account_service_pb2, memory_service_pb2
from memoire_server.errors import abort, status_for
from memoire_server.guard import Guard, Handler, guarded
from memoire_server.ratelimit import MethodClass, RateLimiter

Ctx = grpc.aio.ServicerContext[Any, Any]

_READS = {
    "Recall",
    "Conscious",
    "ListMemories",
    "GetMemory",
    "GetMemoryHistory",
    "GetExtraction",
    "ExportUser",
}
_STREAMS = {"ObserveChat"}


def _classes() -> dict[str, MethodClass]:
    """Every method of the Mémoire services by its full path; health and reflection are free."""
    found: dict[str, MethodClass] = {}
    for module, name in (
        (memory_service_pb2, "MemoryService"),
        (account_service_pb2, "AccountService"),
    ):
        service = module.DESCRIPTOR.services_by_name[name]
        for method in service.methods:
            path = f"/{service.full_name}/{method.name}"
            if method.name in _STREAMS:
                found[path] = MethodClass.STREAM
            elif method.name in _READS:
                found[path] = MethodClass.READ
            else:
                found[path] = MethodClass.WRITE
    return found


METHOD_CLASSES = _classes()


def presented_key_in(metadata: Any) -> str:
    """The API key from ``x-api-key`` or ``authorization: Bearer``; empty when none came."""
    for key, value in metadata or ():
        text = value.decode() if isinstance(value, bytes) else value
        if key == "x-api-key":
            return str(text).strip()
        if key == "authorization" and str(text).lower().startswith("bearer "):
            return str(text)[7:].strip()
    return ""


@dataclass(frozen=True)
class TrustedProxies:
    """The peers whose x-forwarded-for is believed (``MEMOIRE_TRUSTED_PROXIES``).

    A header is only as good as whoever wrote it: a client that reaches the gRPC port itself
    could name any address, to dodge the failed-auth guard or to have someone else throttled.
    So the header counts only when the connection comes from a listed proxy.
    """

    networks: tuple[IPv4Network | IPv6Network, ...] = ()
    unix: bool = False

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        """From a comma-separated list of networks and ``unix``; ValueError names a bad entry."""
        networks = []
        unix = False
        for entry in (part.strip() for part in text.split(",")):
            if entry == "unix":
                unix = True
            elif entry:
                try:
                    networks.append(ip_network(entry, strict=False))
                except ValueError:
                    raise ValueError(
                        f"MEMOIRE_TRUSTED_PROXIES: {entry!r} is neither a network nor 'unix'"
                    ) from None
        return cls(tuple(networks), unix)

    def trusts(self, address: str) -> bool:
        """Whether ``address`` (an IP, or ``unix`` for a Unix socket peer) is a listed proxy."""
        if address == "unix":
            return self.unix
        try:
            ip = ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


def peer_address(context: Ctx) -> str:
    """The connection's own peer without its port; ``unix`` for a Unix socket."""
    return address_of_peer(context.peer() or "unknown")


def address_of_peer(peer: str) -> str:
    """``ipv4:10.0.0.7:5000`` → ``10.0.0.7``; ``ipv6:%5B::1%5D:5000`` (gRPC escapes the
    brackets) → ``::1``; any ``unix:`` peer → ``unix``."""
    kind, _, rest = peer.partition(":")
    if kind in {"ipv4", "ipv6"}:
        return unquote(rest).rsplit(":", 1)[0].strip("[]")
    if kind == "unix":
        return "unix"
    return peer


def client_address(context: Ctx, proxies: TrustedProxies) -> str:
    """The caller's address: the peer, or behind trusted proxies the nearest hop of
    x-forwarded-for that no trusted proxy vouches for (proxies append, so it is read from the
    right)."""
    address = peer_address(context)
    if not proxies.trusts(address):
        return address
    for key, value in context.invocation_metadata() or ():
        if key == "x-forwarded-for":
            text = value.decode() if isinstance(value, bytes) else str(value)
            for hop in reversed([h.strip() for h in text.split(",") if h.strip()]):
                address = hop
                if not proxies.trusts(hop):
                    break
    return address


class AdmissionInterceptor(Guard):
    """Refuses a call over its key's rate, or from an address that keeps failing to sign in."""

    def __init__(self, limiter: RateLimiter, trusted_proxies: TrustedProxies) -> None:
        super().__init__()
        self.limiter = limiter
        self.trusted_proxies = trusted_proxies

    async def _admit(self, method_class: MethodClass, context: Ctx) -> None:
        try:
            await self.limiter.admit(
                method_class,
                presented_key_in(context.invocation_metadata()),
                client_address(context, self.trusted_proxies),
            )
        except MemoireError as error:
            await abort(context, status_for(error))

    def guard(self, handler: Handler, method: str) -> Handler:
        method_class = METHOD_CLASSES.get(method)
        if method_class is None:  # health and reflection are free
            return handler

        async def admit(_: Any, context: Ctx) -> None:
            await self._admit(method_class, context)

        return guarded(handler, admit)
