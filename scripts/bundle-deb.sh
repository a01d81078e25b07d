#!/usr/bin/env bash
# Builds an installable Debian package of the desktop app (release build,
# about 8 minutes the first time) with the Tauri CLI from ui/node_modules.
# The CLI looks for the app crate next to tauri.conf.json, so src-tauri/
# gets links to the root's tauri.conf.json, ui and icons (git ignores them).
# The package lands in ${CARGO_TARGET_DIR:-target}/release/bundle/deb/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/ui.sh
cd src-tauri
for l in tauri.conf.json ui icons; do
  [ -e "$l" ] || ln -s "../$l" "$l"
done
../ui/node_modules/.bin/tauri build --bundles deb --config '{"build":{"beforeBuildCommand":""}}'
ls -l "$(realpath "${CARGO_TARGET_DIR:-../target}")"/release/bundle/deb/*.deb
