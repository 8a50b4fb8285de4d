#!/usr/bin/env bash
# Runs every Hookbridge test. Installs what the tests need when it is missing,
# so this one command works on a fresh machine (and is what .ci/run calls).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The delivery tests run the seed page's Python verify_signature verbatim.
if ! command -v python3 >/dev/null 2>&1; then
  as_root apt-get update -qq && as_root apt-get install -y -qq python3
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo nextest run --locked --no-fail-fast
