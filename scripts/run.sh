#!/usr/bin/env bash
# The main job: report the adapter, check every kernel against the CPU reference, then run the
# shipped tiny models end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-adapter.sh
cargo build --release --quiet
./target/release/vitfuse info
./target/release/vitfuse selfcheck
