"""Settings for the whole test run, made before any test module imports grpc."""

import os

# Tests start Postgres, Redis, Envoy and workers as child processes from a process whose gRPC
# threads are busy. gRPC's fork handlers then run in the child between fork and exec, where
# they can crash it (pg_ctl died with SIGSEGV under load); the children exec at once and never
# use gRPC, so the handlers have nothing to protect.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
