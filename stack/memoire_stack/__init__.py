"""The local stack: PostgreSQL, Redis, `memoire` children, Envoy and the memory inspector,
kept running by a supervisor and stopped by a watchdog when `memoire up` ends."""
