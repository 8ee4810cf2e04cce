"""Generate the committed Python gRPC code for the Mémoire contract.

Runs ``python -m grpc_tools.protoc`` on ``proto/memoire/v1/*.proto`` and writes
``*_pb2.py``, ``*_pb2.pyi``, ``*_pb2_grpc.py`` and ``*_pb2_grpc.pyi`` (plus a generated
``__init__.py``) into ``proto/python/src/memoire_proto/v1/``, the ``memoire-proto`` package that
the server and the Python SDK both depend on. protoc names the modules after the proto package
(``memoire.v1.<name>_pb2``); they are renamed to ``memoire_proto.v1.<name>_pb2``, so the
generated code has a package of its own. The vendored ``google/api`` protos in
``proto/third_party`` are only used to resolve imports: at run time they come
from the ``googleapis-common-protos`` package.

Usage (from any directory, in an environment with grpcio-tools installed)::

    python scripts/generate_protos.py             # regenerate the committed files
    python scripts/generate_protos.py --out DIR   # write into DIR instead
    python scripts/generate_protos.py --check     # exit 1 if the committed files are stale

The output depends only on the inputs and on the grpcio-tools version, which is
pinned below (keep it in step with the ``dev`` extra in ``pyproject.toml``).
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.metadata
import importlib.resources
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO_ROOT / "proto"
THIRD_PARTY_ROOT = PROTO_ROOT / "third_party"
PACKAGE_DIR = Path("memoire") / "v1"  # relative to PROTO_ROOT and to protoc's output root
DEFAULT_OUT = PROTO_ROOT / "python" / "src" / "memoire_proto" / "v1"
# protoc's module paths ("memoire.v1.memory_pb2", in imports and descriptors) → the package's.
MODULE_PATH = re.compile(r"\bmemoire\.v1(?=\.\w+_pb2\b| import )")
GRPC_TOOLS_VERSION = "1.85.1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
INIT_TEXT = '"""Generated from proto/memoire/v1; do not edit, run scripts/generate_protos.py."""\n'


def _is_generated(path: Path) -> bool:
    return path.name == "__init__.py" or path.name.endswith(GENERATED_SUFFIXES)


def _proto_files() -> list[str]:
    """Return the contract's .proto files relative to PROTO_ROOT, sorted, with '/' separators."""
    files = sorted((PROTO_ROOT / PACKAGE_DIR).glob("*.proto"))
    if not files:
        raise SystemExit(f"no .proto files found in {PROTO_ROOT / PACKAGE_DIR}")
    return [f.relative_to(PROTO_ROOT).as_posix() for f in files]


def _check_grpc_tools() -> Path:
    """Return grpc_tools' bundled well-known-types folder, after checking the pinned version."""
    try:
        version = importlib.metadata.version("grpcio-tools")
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit(
            f"grpcio-tools is not installed; run: pip install grpcio-tools=={GRPC_TOOLS_VERSION}"
        ) from None
    if version != GRPC_TOOLS_VERSION:
        raise SystemExit(
            f"grpcio-tools {version} is installed but the committed code is generated with "
            f"{GRPC_TOOLS_VERSION}; run: pip install grpcio-tools=={GRPC_TOOLS_VERSION}"
        )
    return Path(str(importlib.resources.files("grpc_tools") / "_proto"))


def _mypy_grpc_plugin() -> str:
    """The protoc plugin of mypy-protobuf that writes ``*_pb2_grpc.pyi``."""
    found = shutil.which("protoc-gen-mypy_grpc", path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit("mypy-protobuf is not installed; run: pip install mypy-protobuf")
    return found


def generate(out_dir: Path) -> list[Path]:
    """Generate the modules into out_dir (created if needed); return the files written, sorted.

    Previously generated files in out_dir that are no longer produced are removed;
    other files there are left alone.
    """
    well_known = _check_grpc_tools()
    with tempfile.TemporaryDirectory(prefix="memoire-protoc-") as tmp:
        tmp_root = Path(tmp)
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--proto_path={PROTO_ROOT.relative_to(REPO_ROOT).as_posix()}",
            f"--proto_path={THIRD_PARTY_ROOT.relative_to(REPO_ROOT).as_posix()}",
            f"--proto_path={well_known}",
            f"--python_out={tmp_root}",
            f"--pyi_out={tmp_root}",
            f"--grpc_python_out={tmp_root}",
            # Typed stubs for the service modules, so servicers and stubs are checked by mypy.
            f"--plugin=protoc-gen-mypy_grpc={_mypy_grpc_plugin()}",
            f"--mypy_grpc_out={tmp_root}",
            *_proto_files(),
        ]
        # Arguments are built here, not taken from users; run from the repo root so
        # that protoc sees the same relative paths on every machine.
        result = subprocess.run(command, cwd=REPO_ROOT, check=False)  # noqa: S603
        if result.returncode != 0:
            raise SystemExit(f"grpc_tools.protoc failed with exit code {result.returncode}")
        (tmp_root / PACKAGE_DIR / "__init__.py").write_text(INIT_TEXT, encoding="utf-8")
        produced = sorted(p for p in (tmp_root / PACKAGE_DIR).iterdir() if p.is_file())

        out_dir.mkdir(parents=True, exist_ok=True)
        names = {p.name for p in produced}
        for stale in out_dir.iterdir():
            if stale.is_file() and _is_generated(stale) and stale.name not in names:
                stale.unlink()
        written = []
        for source in produced:
            target = out_dir / source.name
            text = source.read_text(encoding="utf-8")
            target.write_text(MODULE_PATH.sub("memoire_proto.v1", text), encoding="utf-8")
            written.append(target)
    return written


def stale_files(committed_dir: Path) -> list[str]:
    """Regenerate into a temp dir and return the names that differ from committed_dir."""
    with tempfile.TemporaryDirectory(prefix="memoire-protos-check-") as tmp:
        fresh_dir = Path(tmp)
        fresh = {p.name for p in generate(fresh_dir)}
        committed = (
            {p.name for p in committed_dir.iterdir() if p.is_file() and _is_generated(p)}
            if committed_dir.is_dir()
            else set()
        )
        differing = {
            name
            for name in fresh & committed
            if not filecmp.cmp(fresh_dir / name, committed_dir / name, shallow=False)
        }
        return sorted(differing | (fresh ^ committed))


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and generate or check; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"folder to write the modules into (default: {DEFAULT_OUT.relative_to(REPO_ROOT)})",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="generate into a temp dir and exit 1 if any file differs from --out",
    )
    args = parser.parse_args(argv)
    out_dir: Path = args.out.resolve()
    if args.check:
        differing = stale_files(out_dir)
        if differing:
            print(f"generated code in {out_dir} is stale; differing files:", file=sys.stderr)
            for name in differing:
                print(f"  {name}", file=sys.stderr)
            print("run: python scripts/generate_protos.py", file=sys.stderr)
            return 1
        print(f"generated code in {out_dir} is current")
        return 0
    written = generate(out_dir)
    print(f"wrote {len(written)} files to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
