#!/usr/bin/env bash
# Measures the desktop app (release build): time from launch to the overview
# painted with the demo store, and the memory of the running app (the app
# process plus its WebKit web and network processes), under Xvfb.
# Usage: bash scripts/bench-desktop.sh [runs]   (after a release build, e.g. scripts/bundle-deb.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
target="$(realpath "${CARGO_TARGET_DIR:-target}")"
app="$target/release/argus-usage-desktop"
cli="$target/release/argus-usage"
[ -x "$app" ] && [ -x "$cli" ] || { echo "build first: cargo build --release -p argus-desktop -p argus-cli (after bash scripts/ui.sh)" >&2; exit 1; }
home="$(mktemp -d)"
trap 'kill $xvfb 2>/dev/null || true; rm -rf "$home"' EXIT
export XDG_DATA_HOME="$home/data" XDG_CACHE_HOME="$home/cache" XDG_CONFIG_HOME="$home/config" ARGUS_USAGE_DB="$home/usage.db"
"$cli" demo >/dev/null
Xvfb :77 -screen 0 1280x900x24 >/dev/null 2>&1 & xvfb=$!
sleep 1
export DISPLAY=:77

descendants() { local p; for p in $(pgrep -P "$1"); do echo "$p"; descendants "$p"; done; }

echo "| run | launch to overview painted (app's clock) | wall clock from spawn | PSS | private (anonymous) | RSS |"
echo "|---:|---:|---:|---:|---:|---:|"
for i in $(seq 1 "$runs"); do
  log="$home/run$i.log"
  start=$(date +%s%N)
  "$app" 2>"$log" & pid=$!
  for _ in $(seq 1 300); do grep -q "overview painted" "$log" && break; sleep 0.02; done
  wall=$(( ($(date +%s%N) - start) / 1000000 ))
  ms=$(grep -o 'painted [0-9]* ms' "$log" | grep -o '[0-9]*' || echo "?")
  sleep 3
  # Summed over the app and its WebKit processes. RSS counts the shared
  # libraries (WebKit, GTK) once per process; PSS divides shared pages
  # among the processes that map them, so its sum is the app's footprint.
  rss=0; pss=0; anon=0
  for p in $pid $(descendants $pid); do
    read -r r a < <(awk '/^Rss:/ {r=$2} /^Anonymous:/ {a=$2} END {print r+0, a+0}' "/proc/$p/smaps_rollup" 2>/dev/null || echo "0 0")
    q=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    rss=$((rss + r)); anon=$((anon + a)); pss=$((pss + ${q:-0}))
  done
  kill $pid; wait $pid 2>/dev/null || true
  echo "| $i | $ms ms | $wall ms | $((pss / 1024)) MiB | $((anon / 1024)) MiB | $((rss / 1024)) MiB |"
done
