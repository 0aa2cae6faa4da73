#!/usr/bin/env bash
# Runs every test (unit, property, model fixtures, library API, examples, CLI) on the first
# available adapter, installing lavapipe first when the machine has no Vulkan driver; then checks
# that the library alone builds without the command line's dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-adapter.sh
# One build for everything: the test build's `vitfuse` (dev-dependencies such as naga's MSL and
# HLSL writers change shared crates' features, so a plain `cargo run` would build a second copy).
cargo test --release --workspace --all-targets --no-run "$@"
target/release/vitfuse info
cargo test --release --workspace --all-targets "$@"
cargo test --release --doc -p vitfuse
# A library user (`default-features = false`) compiles no clap, indicatif or CPU reference.
deps=$(cargo tree --quiet -p vitfuse --no-default-features -e normal --prefix none)
if grep -qE "^(clap|indicatif|vitfuse-reference|anyhow) " <<<"$deps"; then
  echo "the library without default features depends on: $(grep -E '^(clap|indicatif|vitfuse-reference|anyhow) ' <<<"$deps" | sort -u | tr '\n' ' ')" >&2
  exit 1
fi
cargo test --release --quiet --no-default-features --test api --test examples
echo "library without default features: builds and passes its API tests"
