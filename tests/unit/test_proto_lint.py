"""The gRPC contract passes `buf lint` (STANDARD and COMMENTS, see buf.yaml)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUF = REPO_ROOT / "node_modules" / ".bin" / "buf"


def test_buf_lint() -> None:
    if not BUF.exists() and not os.environ.get("CI"):
        pytest.skip("buf is not installed (node_modules/.bin/buf missing); run `npm ci` first")
    npx = shutil.which("npx")
    assert npx is not None, "npx is not on PATH; install Node.js and run `npm ci`"
    assert BUF.exists(), "node_modules/.bin/buf is missing under CI; run `npm ci` first"
    result = subprocess.run(
        [npx, "--no-install", "buf", "lint"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"buf lint failed:\n{result.stdout}\n{result.stderr}"
