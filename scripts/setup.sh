#!/usr/bin/env bash
# Idempotent setup shared by `make run`, `make test` and `make bench`.
#   scripts/setup.sh run    runtime dependencies, embedded servers, migrations, demo data
#   scripts/setup.sh test   the same plus test tools and Chromium (no demo data)
# Re-runs are fast: pip and npm run only when their lock files changed.
set -euo pipefail
MODE=${1:-run}
cd "$(dirname "$0")/.."
ROOT=$(pwd)
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
die() { printf '\033[1;31mERROR:\033[0m %s\n' "$*" >&2; exit 1; }

# --- Python ---------------------------------------------------------------------------
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || die "python3 (3.11 or newer) is missing: install it (Debian: apt-get install python3 python3-venv)"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "Python 3.11+ is required, found $("$PY" --version 2>&1)"

# --- System packages (Debian names) ---------------------------------------------------
need_pkgs=(pkg-config libmariadb-dev)
command -v npm >/dev/null || need_pkgs+=(npm)
[ "$MODE" = test ] && need_pkgs+=(chromium)
missing=()
for pkg in "${need_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing system packages: ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    die "missing system packages: ${missing[*]}. Install them with: sudo apt-get install ${missing[*]}"
  fi
fi

# --- Virtualenv and Python packages ---------------------------------------------------
[ -x .venv/bin/python ] || { say "creating .venv"; "$PY" -m venv .venv; }
REQ=requirements.txt
[ "$MODE" = test ] && REQ=requirements-dev.txt
stamp=.venv/.installed-$(cat requirements.txt "$REQ" | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  say "installing Python packages from $REQ"
  .venv/bin/pip install -q --disable-pip-version-check -r "$REQ" || die "pip install -r $REQ failed (see above)"
  touch "$stamp"
fi

# --- Front-end packages (lightweight-charts, htmx; esbuild to bundle) ------------------
nstamp=node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f "$nstamp" ]; then
  say "installing front-end packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null || die "npm ci failed"
  touch "$nstamp"
fi

# --- The chart page's JavaScript bundle (apps/charts/bundle.py) ------------------------
# esbuild (an npm devDependency) bundles static/charts/terminal.js and the modules it
# imports into static/build/chart-page.js (gitignored); again whenever a source is newer.
bundle=static/build/chart-page.js
if [ ! -f "$bundle" ] || [ -n "$(find static/charts package-lock.json -newer "$bundle" \( -name '*.js' -o -type d -o -name package-lock.json \) -print -quit)" ]; then
  say "bundling the chart page's JavaScript (esbuild)"
  rm -rf static/build/.next && mkdir -p static/build/.next
  node_modules/.bin/esbuild static/charts/terminal.js --bundle --format=esm --target=es2022 \
    --minify --sourcemap --log-level=warning --outfile=static/build/.next/chart-page.js \
    || die "esbuild could not bundle static/charts/terminal.js (see above)"
  mv -f static/build/.next/chart-page.js.map static/build/chart-page.js.map
  mv -f static/build/.next/chart-page.js "$bundle"
  rmdir static/build/.next
fi

# --- Servers and schemas (tests create and drop their own databases) ------------------
if [ "$MODE" = run ]; then
  .venv/bin/python -m tradeflow.embedded up
  .venv/bin/python -m tradeflow.dbcreate || die "a configured database server is unreachable (see above)"
  .venv/bin/python manage.py migrate --noinput -v0
  .venv/bin/python manage.py migrate_marketdata
  .venv/bin/python manage.py seed_demo
fi
say "setup complete ($MODE)"
