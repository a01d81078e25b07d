#!/usr/bin/env bash
# Installs the UI's npm packages (exactly the lockfile's, only when they
# changed) and builds the UI into ui/dist, which the desktop shell embeds.
set -euo pipefail
cd "$(dirname "$0")/../ui"
command -v npm >/dev/null || { echo "ui: npm is not on PATH; install Node.js 18 or newer" >&2; exit 1; }
stamp=node_modules/.argus-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
npm run --silent build >/dev/null
