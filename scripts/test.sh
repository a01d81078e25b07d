#!/usr/bin/env bash
# Runs the whole test suite, as CI does: formatting, lints (warnings are
# errors), every crate's tests, the desktop shell's build, and a short run of
# each benchmark so that they keep working. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
target="${CARGO_TARGET_DIR:-target}"

echo "== the UI: build, type check, unit tests (Vitest)"
bash scripts/ui.sh
(cd ui && npx vitest run --reporter=dot)

# Tests never touch the real default store: each uses its own temporary file.
echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== dependency rules (only argus-store touches SQLite and PostgreSQL, only argus-client HTTP, e-mail and the keyring, only src-tauri Tauri), no module cycles, licenses"
node scripts/check-deps.mjs

echo "== tests"
cargo test --workspace --locked

echo "== the behavioural suites again, on PostgreSQL (Debian's postgresql: a private cluster on loopback, scripts/pg.sh; a database a test)"
eval "$(bash scripts/pg.sh start)"
trap 'bash scripts/pg.sh stop "$ARGUS_PG_DIR"' EXIT
ARGUS_TEST_PG="$ARGUS_PG_URL" cargo test --locked -q -p argus-ops --tests
ARGUS_TEST_PG="$ARGUS_PG_URL" cargo test --locked -q -p argus-cli --test server --test cli --test sync --test cluster

echo "== the UI's TypeScript types are the ones generated from the Rust types"
if [ -n "$(git status --porcelain -- ui/src/generated)" ]; then
  git status --porcelain -- ui/src/generated
  echo "ui/src/generated is out of date: run \`cargo test -p argus-ops --lib\` and commit it" >&2
  exit 1
fi

echo "== the OS keyring, against a real Secret Service (gnome-keyring in a private D-Bus session)"
keyring_home="$(mktemp -d)"
XDG_DATA_HOME="$keyring_home" dbus-run-session -- sh -c \
  'echo -n test-only-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null && cargo test --locked -q -p argus-cli --test sync -- --ignored keyring' 2>&1 \
  | { grep -v 'Failed to set fd limit' || true; }
rm -rf "$keyring_home"

echo "== the desktop shell builds"
cargo build --workspace --bins --locked

echo "== the gateway with the official OpenAI and Anthropic SDKs as callers (pytest, fake providers on loopback)"
pybin="$(bash scripts/pyenv.sh)"
ARGUS_BIN="$(realpath "$target")/debug/argus-usage" "$pybin/python" -m pytest -q -p no:cacheprovider tests/gateway
echo "== the same, the server on PostgreSQL"
ARGUS_TEST_PG="$ARGUS_PG_URL" ARGUS_BIN="$(realpath "$target")/debug/argus-usage" "$pybin/python" -m pytest -q -p no:cacheprovider tests/gateway

echo "== Schemathesis against the real server with a token of each role (every operation of the OpenAPI document, all default checks)"
ARGUS_BIN="$(realpath "$target")/debug/argus-usage" SCHEMATHESIS="$pybin/schemathesis" bash tests/schemathesis/run.sh 20

echo "== end to end in headless Chromium against the real server (Playwright)"
(cd ui && ARGUS_BIN="$(cd .. && realpath "$target")/debug/argus-usage" node --test e2e/)

echo "== the real window under Xvfb through WebDriver (tauri-driver)"
(cd ui && CARGO_TARGET_DIR="$(cd .. && realpath "$target")" xvfb-run -a -s '-screen 0 1280x860x24' node --test desktop/)

echo "== every benchmark still runs (small sizes; real figures: docs/benchmarks.md)"
cargo build --release --locked -q -p argus-bench -p argus-cli
bench="$target/release/argus-bench"
bench_dir="$(mktemp -d)"
"$bench" --dir "$bench_dir" ingest --records 20000 >/dev/null
"$bench" --dir "$bench_dir" summary --records 20000 >/dev/null
"$bench" --dir "$bench_dir" sync --records 20000 >/dev/null
"$bench" --dir "$bench_dir" export --records 20000 --pdf-store-records 20000 >/dev/null
"$bench" --dir "$bench_dir" admit --admissions 2000 --workers 2 --seconds 1 >/dev/null
"$bench" --dir "$bench_dir" server --seconds 1 --admit-rate 200 --clients 2 --store-records 5000 >/dev/null 2>&1
"$bench" --dir "$bench_dir" gateway --seconds 1 --rates 100 --clients 4 >/dev/null
rm -rf "$bench_dir"

echo "== all tests passed"
