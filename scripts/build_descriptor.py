"""Build the protobuf descriptor set Envoy's gRPC-JSON transcoder reads, from proto/.

Runs ``python -m grpc_tools.protoc --include_imports --descriptor_set_out=...`` on
``proto/memoire/v1/*.proto`` and ``google/rpc/error_details.proto`` (so Envoy can print the
ErrorInfo and BadRequest details of an error as JSON), with ``proto/`` and
``proto/third_party`` on the include path.

Usage (from any directory, in an environment with grpcio-tools installed)::

    python scripts/build_descriptor.py              # refresh the copy inline in envoy/envoy.yaml
    python scripts/build_descriptor.py --out FILE   # write the descriptor set to FILE only
    python scripts/build_descriptor.py --check      # exit 1 if envoy/envoy.yaml's copy is stale

The descriptor is inline in ``envoy/envoy.yaml`` (``proto_descriptor_bin``) because
docker-compose mounts that one file into the Envoy container and nothing else. Tests build a
fresh descriptor into a temporary file instead and check that the inline one matches.
"""

from __future__ import annotations

import argparse
import base64
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO_ROOT / "proto"
THIRD_PARTY_ROOT = PROTO_ROOT / "third_party"
ENVOY_CONFIG = REPO_ROOT / "envoy" / "envoy.yaml"
# Types that travel inside google.rpc.Status details; Envoy must know them to print them.
EXTRA_PROTOS = ("google/rpc/error_details.proto",)
# The inline copy: a double-quoted YAML scalar, split into lines ending in an escaped newline.
INLINE = re.compile(r'^(?P<indent> *)proto_descriptor_bin: "(?:[^"\\]|\\\n *)*"$', re.MULTILINE)
LINE = 76


def proto_files() -> list[str]:
    """The inputs, relative to the include path, with '/' separators."""
    contract = sorted((PROTO_ROOT / "memoire" / "v1").glob("*.proto"))
    if not contract:
        raise SystemExit(f"no .proto files in {PROTO_ROOT / 'memoire' / 'v1'}")
    return [f.relative_to(PROTO_ROOT).as_posix() for f in contract] + list(EXTRA_PROTOS)


def build(*, include_source_info: bool = False) -> bytes:
    """The serialized FileDescriptorSet of the contract and everything it imports.

    With ``include_source_info`` it carries the comments too (scripts/build_openapi.py reads
    them); Envoy's copy leaves them out.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "memoire.pb"
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--proto_path={PROTO_ROOT}",
            f"--proto_path={THIRD_PARTY_ROOT}",
            "--include_imports",
            *(["--include_source_info"] if include_source_info else []),
            f"--descriptor_set_out={out}",
            *proto_files(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise SystemExit(f"protoc failed:\n{result.stderr}")
        return out.read_bytes()


def inline_yaml(descriptor: bytes, indent: str) -> str:
    """``proto_descriptor_bin: "..."`` with the base64 split over lines of the given indent."""
    encoded = base64.b64encode(descriptor).decode()
    chunks = [encoded[i : i + LINE] for i in range(0, len(encoded), LINE)]
    body = "\\\n".join(f"{indent}  {chunk}" for chunk in chunks)
    return f'{indent}proto_descriptor_bin: "\\\n{body}"'


def embed(config_text: str, descriptor: bytes) -> str:
    """The Envoy config with its inline descriptor replaced by ``descriptor``."""
    matches = list(INLINE.finditer(config_text))
    if len(matches) != 1:
        raise SystemExit(f"expected one proto_descriptor_bin in the config, found {len(matches)}")
    (match,) = matches
    new = inline_yaml(descriptor, match["indent"])
    return config_text[: match.start()] + new + config_text[match.end() :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--out", type=Path, help="write the descriptor set to this file only")
    mode.add_argument("--check", action="store_true", help="fail if envoy.yaml is stale")
    args = parser.parse_args(argv)

    descriptor = build()
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(descriptor)
        print(f"wrote {args.out} ({len(descriptor)} bytes)")
        return 0
    current = ENVOY_CONFIG.read_text()
    updated = embed(current, descriptor)
    if args.check:
        if updated != current:
            print(
                f"{ENVOY_CONFIG.relative_to(REPO_ROOT)} is stale: "
                "run python scripts/build_descriptor.py",
                file=sys.stderr,
            )
            return 1
        return 0
    if updated != current:
        ENVOY_CONFIG.write_text(updated)
        print(f"updated the descriptor in {ENVOY_CONFIG.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
