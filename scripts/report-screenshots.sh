#!/usr/bin/env bash
# Renders each page of the demo organisation's monthly PDF report to PNG
# under docs/screenshots/ (pdftoppm from poppler-utils). Reproducible: the
# clock is pinned from outside the binary (libfaketime), so the demo data and
# the report are the same every run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -q -p argus-cli
bin="${CARGO_TARGET_DIR:-target}/release/argus-usage"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export ARGUS_USAGE_DB="$tmp/demo.db"
at_fixed_time() { TZ=UTC faketime -f '@2026-11-27 12:00:00' "$@"; }
at_fixed_time "$bin" demo >/dev/null
at_fixed_time "$bin" export --org demo --format pdf --kind summary --from 2026-11-01 --to 2026-12-01 --out "$tmp/report.pdf"
mkdir -p docs/screenshots
rm -f docs/screenshots/report-page-*.png
pdftoppm -png -r 80 "$tmp/report.pdf" docs/screenshots/report-page
ls docs/screenshots/report-page-*.png
