#!/usr/bin/env bash
# Creates .venv with what the given extra needs ("local" to run, "dev" to test) and the npm tools.
# Re-installs only when a manifest changed, so repeated runs cost a second.
set -euo pipefail
cd "$(dirname "$0")/.."
extra=${1:-local}
python=${PYTHON:-python3}

manifests=(pyproject.toml clients/python/pyproject.toml)
[ -f package-lock.json ] && manifests+=(package-lock.json)
[ -f clients/ts/package-lock.json ] && manifests+=(clients/ts/package-lock.json)
want="$extra-$(cat "${manifests[@]}" | sha256sum | cut -c1-16)"
stamp=.venv/.bootstrap-$extra
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

echo "Installing Mémoire ($extra) into .venv ..."
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e clients/python -e ".[$extra]"
if [ "$extra" = dev ] && [ -f package-lock.json ]; then
  npm ci --silent --no-audit --no-fund
fi
if [ "$extra" = dev ] && [ -f clients/ts/package-lock.json ]; then
  (cd clients/ts && npm ci --silent --no-audit --no-fund)
fi
echo "$want" > "$stamp"
