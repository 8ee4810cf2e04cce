"""The committed Python code in proto/python/src/memoire_proto/v1 matches the protos."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
GENERATOR = REPO_ROOT / "scripts" / "generate_protos.py"
COMMITTED = REPO_ROOT / "proto" / "python" / "src" / "memoire_proto" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def _generated_names(folder: Path) -> set[str]:
    return {
        p.name
        for p in folder.iterdir()
        if p.is_file() and (p.name == "__init__.py" or p.name.endswith(GENERATED_SUFFIXES))
    }


def test_generated_code_is_current(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"generator failed:\n{result.stdout}\n{result.stderr}"

    fresh = _generated_names(tmp_path)
    committed = _generated_names(COMMITTED) if COMMITTED.is_dir() else set()
    assert fresh, "the generator produced no files"
    differing = sorted(
        {
            n
            for n in fresh & committed
            if not filecmp.cmp(tmp_path / n, COMMITTED / n, shallow=False)
        }
        | (fresh ^ committed)
    )
    assert not differing, (
        f"generated code in {COMMITTED.relative_to(REPO_ROOT)} is stale "
        f"(differs: {', '.join(differing)}); run `python scripts/generate_protos.py` "
        "and commit the result"
    )
