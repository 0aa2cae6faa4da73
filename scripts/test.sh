#!/usr/bin/env bash
# Runs every test (unit, property, model fixtures, CLI) on the first available adapter, installing
# lavapipe first when the machine has no Vulkan driver.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-adapter.sh
cargo run --release --quiet -- info
cargo test --release --workspace --all-targets "$@"
