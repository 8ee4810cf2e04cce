"""Mémoire over the Model Context Protocol: memory tools for agents that speak MCP.

`memoire mcp` runs it. It is a client of the gRPC API, so every call carries the caller's API
key and the server's own scopes, limits and error reasons apply: stdio serves one desktop agent
with the key it was launched with; Streamable HTTP serves remote agents, each request with its
own key.
"""

from memoire_mcp.backend import Backend
from memoire_mcp.server import build_server, http_app, serve_http, serve_stdio

__all__ = ["Backend", "build_server", "http_app", "serve_http", "serve_stdio"]
