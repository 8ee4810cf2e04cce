"""Generated from proto/memoire/v1; do not edit, run scripts/generate_protos.py."""
