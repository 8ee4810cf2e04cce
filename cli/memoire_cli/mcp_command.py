"""``memoire mcp``: the memory tools for agents that speak the Model Context Protocol."""

import asyncio

import click


def _local_key() -> str | None:
    """The key `memoire up` wrote, so a local desktop agent needs no flags."""
    from memoire_core.config import Settings  # noqa: PLC0415 - read only when no key is given

    path = Settings().data_dir / "local_api_key"
    return path.read_text().strip() if path.exists() else None


@click.command(name="mcp")
@click.option(
    "--target",
    envvar="MEMOIRE_TARGET",
    default="127.0.0.1:50051",
    show_default=True,
    help="The Mémoire gRPC server (or MEMOIRE_TARGET).",
)
@click.option(
    "--api-key",
    envvar="MEMOIRE_API_KEY",
    default=None,
    help="stdio: the key every call acts with (or MEMOIRE_API_KEY). Not used with --http.",
)
@click.option("--tls", is_flag=True, help="Reach the gRPC server over TLS (system roots).")
@click.option("--http", "over_http", is_flag=True, help="Serve Streamable HTTP, not stdio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP: address to bind.")
@click.option("--port", default=8765, show_default=True, help="HTTP: port (0 picks a free one).")
def mcp(target: str, api_key: str | None, tls: bool, over_http: bool, host: str, port: int) -> None:
    """Serve the memory tools over MCP: stdio for a desktop agent, or --http for remote ones.

    Over stdio every call acts with one API key. Over HTTP (at /mcp) each request must carry
    its own in `x-api-key` or `Authorization: Bearer`, so a user-scoped key acts for its user
    only.
    """
    import grpc  # noqa: PLC0415 - heavy imports only when the command runs

    from memoire_mcp import Backend, serve_http, serve_stdio  # noqa: PLC0415

    backend = Backend(target, credentials=grpc.ssl_channel_credentials() if tls else None)
    if over_http:
        asyncio.run(serve_http(backend, host, port))
        return
    key = api_key or _local_key()
    if not key:
        raise click.UsageError("pass --api-key or set MEMOIRE_API_KEY (or run `memoire up` first)")
    asyncio.run(serve_stdio(backend, key))
