#!/usr/bin/env bash
# Schemathesis (PyPI) against the real server, with a token of each role:
# every operation of /api/v1/openapi.json, generated from the Rust types,
# checked by Schemathesis's default checks (all of them). The store has an
# organisation with records, a budget, an alert, a webhook, an alias and
# tokens, so that operations reach their business logic.
#   ARGUS_BIN=target/debug/argus-usage bash tests/schemathesis/run.sh [MAX_EXAMPLES]
set -euo pipefail
bin="${ARGUS_BIN:?set ARGUS_BIN to the argus-usage binary}"
st="${SCHEMATHESIS:-schemathesis}"
examples="${1:-30}"
dir="$(mktemp -d)"
db="$dir/usage.db"
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT

# The organisation is "0": the first value Schemathesis makes of a slug,
# so that generated paths reach it, while other values are other
# organisations (404, as the access-matrix test checks).
org=0
"$bin" --db "$db" org create "$org" >/dev/null
cat > "$dir/calls.jsonl" <<'JSONL'
{"id":"st-1","org":"0","provider":"openai","model":"gpt-4o","operation":"chat","investigation":"INV-1","user":"ann","input_tokens":1200,"output_tokens":300,"occurred_at":"2026-11-02T09:15:00Z"}
{"id":"st-2","org":"0","provider":"anthropic","model":"claude-sonnet-4-5","operation":"chat","input_tokens":900,"output_tokens":100,"occurred_at":"2026-11-03T10:00:00Z"}
JSONL
"$bin" --db "$db" ingest "$dir/calls.jsonl" >/dev/null
"$bin" --db "$db" budget set --org "$org" --amount 0.001 >/dev/null
"$bin" --db "$db" provider set --org "$org" --provider openai --priority 1 --base-url https://api.openai.com/v1 --api-key-env OPENAI_API_KEY >/dev/null
"$bin" --db "$db" alias set --org "$org" --name smart --targets openai/gpt-4o >/dev/null
# Tokens a generated DELETE /tokens/{id} may revoke (small ids), before the
# tokens of the run.
for i in $(seq 200); do "$bin" --db "$db" token create --org "$org" --role analyst --name "spare-$i" >/dev/null 2>&1; done
declare -A tokens
for role in ingest analyst auditor admin; do
  tokens[$role]="$("$bin" --db "$db" token create --org "$org" --role "$role" 2>/dev/null)"
done

log="$dir/serve.log"
ARGUS_USAGE_SERVER_KEY=schemathesis-test-key-0123456789 "$bin" --db "$db" serve --listen 127.0.0.1:0 --auth-failure-limit 100000 --allow-private-targets 2>"$log" &
server=$!
for _ in $(seq 100); do
  addr="$(sed -n 's|.* on http://\([0-9.:]*\)/api/v1 .*|\1|p' "$log" | head -1)"
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "${addr:-}" ] || { cat "$log" >&2; echo "serve did not start" >&2; exit 1; }

failed=0
here="$(cd "$(dirname "$0")" && pwd)"
# One worker: CPython 3.11's parser is not safe when hypothesis describes
# filters from several threads at once ("AST constructor recursion depth
# mismatch"), which would be an error of the tool, not of the API.
for role in ingest analyst auditor admin; do
  echo "-- schemathesis as $role"
  if ! "$st" --config-file "$here/schemathesis.toml" run "http://$addr/api/v1/openapi.json" \
      --header "Authorization: Bearer ${tokens[$role]}" \
      --max-examples "$examples" --workers 1 \
      --suppress-health-check all; then
    failed=1
  fi
done
exit "$failed"
