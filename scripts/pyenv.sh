#!/usr/bin/env bash
# The Python environment of the tests that drive the server with real
# third-party clients (the official OpenAI and Anthropic SDKs, pytest,
# Schemathesis):
# a virtualenv outside the clone, made or completed when missing, so that
# runs on one machine reuse it. Prints its bin directory.
set -euo pipefail
venv="${ARGUS_USAGE_PYENV:-/var/tmp/argus-usage-venv}"
requirements=(openai anthropic pytest schemathesis)
if [ ! -x "$venv/bin/python" ]; then
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian's own python3 keeps venv in a package of its own.
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
fi
if ! "$venv/bin/python" -c 'import openai, anthropic, pytest, schemathesis' >/dev/null 2>&1; then
  echo "pyenv: installing ${requirements[*]} into $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "${requirements[@]}" >&2
fi
echo "$venv/bin"
