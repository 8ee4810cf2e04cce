#!/usr/bin/env bash
# Creates .venv with what the given extra needs ("local" to run, "dev" to test) and the npm tools.
# Re-installs only when a manifest changed, so repeated runs cost a second; rebuilds the memory
# inspector's bundle only when its sources changed.
set -euo pipefail
cd "$(dirname "$0")/.."
extra=${1:-local}
python=${PYTHON:-python3}

manifests=(pyproject.toml clients/python/pyproject.toml proto/python/pyproject.toml)
[ -f package-lock.json ] && manifests+=(package-lock.json)
[ -f clients/ts/package-lock.json ] && manifests+=(clients/ts/package-lock.json)
[ -f inspector/package-lock.json ] && manifests+=(inspector/package-lock.json)
want="$extra-$(cat "${manifests[@]}" | sha256sum | cut -c1-16)"
stamp=.venv/.bootstrap-$extra

install() {
  echo "Installing Mémoire ($extra) into .venv ..."
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e proto/python -e clients/python -e ".[$extra]"
  if [ "$extra" = dev ] && [ -f package-lock.json ]; then
    npm ci --silent --no-audit --no-fund
  fi
  # The inspector's bundle is built from the TypeScript client's sources, so both extras need
  # clients/ts's packages: `make run` serves the inspector, `make test` drives it in Chromium.
  if [ -f clients/ts/package-lock.json ]; then
    (cd clients/ts && npm ci --silent --no-audit --no-fund)
  fi
  if [ -f inspector/package-lock.json ]; then
    (cd inspector && npm ci --silent --no-audit --no-fund)
  fi
  echo "$want" > "$stamp"
}

# The memory inspector (inspector/, served at /inspector/ by `memoire up`): one bundle in
# inspector/dist, rebuilt when a source of it (its own, or the TypeScript client's) is newer.
build_inspector() {
  [ -f inspector/package.json ] || return 0
  local bundle=inspector/dist/inspector.js
  if [ -f "$bundle" ] && [ -f inspector/.build/driver.mjs ] && [ -z "$(find inspector/src \
      inspector/test inspector/index.html inspector/tsconfig.json inspector/package-lock.json \
      clients/ts/src -newer "$bundle" -print -quit)" ]; then
    return 0
  fi
  echo "Building the memory inspector (inspector/dist) ..."
  (cd inspector && npm run --silent build >/dev/null)
}

# The inspector's browser test (tests/integration/test_inspector.py) drives Debian's chromium;
# nothing downloads a browser of its own.
ensure_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo -n)
  if ! command -v apt-get >/dev/null || { [ ${#sudo[@]} -gt 0 ] && ! sudo -n true 2>/dev/null; }; then
    echo "Chromium is missing and apt-get cannot install it here: the inspector's browser" \
      "test will be skipped (install Debian's chromium package to run it)." >&2
    return 0
  fi
  echo "Installing Chromium (Debian's chromium package) for the inspector's browser test ..."
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  install
fi
build_inspector
if [ "$extra" = dev ]; then
  ensure_chromium
fi
