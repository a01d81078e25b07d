#!/usr/bin/env bash
# The gateway's benchmark beside LiteLLM's proxy, in one run (the figures
# of docs/benchmarks.md, "The gateway"): LiteLLM from PyPI in a virtualenv
# outside the clone, configured to call the same fake upstream that
# `argus-bench gateway` starts on a fixed port, then the bench with
# --other pointing at LiteLLM.
#   bash scripts/bench-gateway.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
target="${CARGO_TARGET_DIR:-target}"
venv="${LITELLM_VENV:-/var/tmp/litellm-venv}"
[ -x "$venv/bin/litellm" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q 'litellm[proxy]'; }
cargo build --release --locked -q -p argus-bench
port=18901
dir="$(mktemp -d)"
cat > "$dir/litellm.yaml" <<YAML
model_list:
  - model_name: fake-model
    litellm_params:
      model: openai/fake-model
      api_base: http://127.0.0.1:$port/v1
      api_key: sk-fake
    # The fake model's rates, so that LiteLLM prices each call (its
    # in-memory spend tracking; a database would need PostgreSQL and Prisma).
    model_info:
      input_cost_per_token: 0.0000025
      output_cost_per_token: 0.00001
general_settings:
  master_key: sk-bench
litellm_settings:
  set_verbose: false
YAML
"$venv/bin/litellm" --config "$dir/litellm.yaml" --port 4000 --num_workers 1 >"$dir/litellm.log" 2>&1 &
litellm=$!
trap 'kill $litellm 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 120); do
  curl -s -o /dev/null http://127.0.0.1:4000/health/liveliness && break
  sleep 1
done
"$target/release/argus-bench" --dir "$dir/bench" gateway --seconds "$seconds" --upstream-port "$port" \
  --other http://127.0.0.1:4000/v1/chat/completions --other-key sk-bench "${@:2}"
