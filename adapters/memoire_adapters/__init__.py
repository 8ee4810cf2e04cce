"""Adapters of the domain core to the world: Redis, LiteLLM, local embedders, Prometheus,
OpenTelemetry and logging. The core declares what it needs (``memoire_core.ports``); the
server and the workers build these and hand them in."""
