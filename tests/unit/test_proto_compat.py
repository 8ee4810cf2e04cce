"""The gRPC contract stays wire- and source-compatible: `buf breaking` (FILE rules, buf.yaml).

What it is compared against, first match wins:

1. ``MEMOIRE_BUF_AGAINST`` when set: any buf input (``.git#tag=v0.1.0``), or ``none`` to skip.
2. The newest release tag ``v<digits>...`` reachable from HEAD: the last released contract.
3. Until the first release, the parent of HEAD: a tripwire that catches a break in the newest
   commit only. A commit that breaks the unreleased contract on purpose says so with a
   ``Breaking-Contract: <why>`` trailer in its message, and is not compared.

The working tree (committed or not) is what gets checked. A shallow clone has no parent
commit to compare against: the test is skipped there, and fails under CI only when buf is
missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUF = REPO_ROOT / "node_modules" / ".bin" / "buf"
TRAILER = "Breaking-Contract"


def git(*args: str) -> str | None:
    """Output of a git command in the repository, or None when it fails."""
    if shutil.which("git") is None:
        return None
    result = subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=30
    )
    return result.stdout.strip() if result.returncode == 0 else None


def against() -> str:
    """The buf input holding the contract to compare with; skips the test when there is none."""
    override = os.environ.get("MEMOIRE_BUF_AGAINST", "").strip()
    if override:
        if override == "none":
            pytest.skip("MEMOIRE_BUF_AGAINST=none")
        return override
    if git("rev-parse", "--is-inside-work-tree") != "true":
        pytest.skip("not a git checkout: no earlier contract to compare with")
    tag = git("describe", "--tags", "--abbrev=0", "--match", "v[0-9]*", "HEAD")
    if tag:
        return f".git#tag={tag}"
    why = git("log", "-1", f"--format=%(trailers:key={TRAILER},valueonly)")
    if why:
        pytest.skip(f"HEAD breaks the unreleased contract on purpose: {why}")
    parent = git("rev-parse", "--verify", "--quiet", "HEAD~1^{commit}")
    if not parent:
        pytest.skip("no parent commit (first commit or shallow clone): nothing to compare with")
    return f".git#ref={parent}"


def test_buf_breaking() -> None:
    if not BUF.exists() and not os.environ.get("CI"):
        pytest.skip("buf is not installed (node_modules/.bin/buf missing); run `npm ci` first")
    npx = shutil.which("npx")
    assert npx is not None, "npx is not on PATH; install Node.js and run `npm ci`"
    assert BUF.exists(), "node_modules/.bin/buf is missing under CI; run `npm ci` first"
    baseline = against()
    result = subprocess.run(
        [npx, "--no-install", "buf", "breaking", "--against", baseline],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert result.returncode == 0, (
        f"buf breaking against {baseline} failed:\n{result.stdout}\n{result.stderr}\n"
        f"If the break is intended before the first release, add a '{TRAILER}: <why>' "
        "trailer to the commit message."
    )
