#!/usr/bin/env bash
# Builds every fuzz target of fuzz/ (no sanitizer, debug assertions and overflow checks on) and
# runs each for FUZZ_SECONDS (default 20) from its seeds (fuzz/seeds/<target>/) and the
# repository's fixtures. Exits non-zero when any target crashes, runs out of memory or times
# out; the input is left in fuzz/artifacts/<target>/ (see fuzz/README.md for what to do with it).
# Usage: scripts/fuzz.sh [TARGET...]   (all targets by default)
# Needs rustup (for a nightly toolchain); installs cargo-fuzz when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
# The same flags for build and run, or `cargo fuzz run` rebuilds.
flags=(-s none -a)

cargo +nightly --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

# Per target: the longest input and the dictionary.
declare -A max_len=([host_tensors]=65536 [weights]=65536 [pipeline_inputs]=65536 [configs]=16384
                    [image]=65536 [wav]=65536 [tokenizer]=4096 [tokenizer_json]=65536)
declare -A dict=([host_tensors]=safetensors [weights]=safetensors [pipeline_inputs]=safetensors
                 [configs]=json [tokenizer_json]=json [image]=image [wav]=wav)

# Copies fixture files (those under the target's max_len) into the corpus as fixture-<n>.
add_fixtures() {
    local corpus=$1 limit=$2 f n=0
    shift 2
    for f in "$@"; do
        if [[ -f $f && $(stat -c %s "$f") -le $limit ]]; then
            cp "$f" "$corpus/fixture-$((n++))-$(basename "$f")"
        fi
    done
}

# The repository's fixtures that fit a target; the image and tokenizer targets take settings
# bytes first (see fuzz/src/lib.rs).
seed_fixtures() {
    local t=$1 corpus=$2 limit=${max_len[$1]} f
    case $t in
        configs) add_fixtures "$corpus" "$limit" tests/fixtures/*/config.json tests/fixtures/*/preprocessor_config.json \
                     tests/fixtures/image_preprocess/*/preprocessor_config.json tests/fixtures/*/tokenizer_config.json ;;
        host_tensors | pipeline_inputs) add_fixtures "$corpus" "$limit" tests/fixtures/*/inputs.safetensors ;;
        weights) add_fixtures "$corpus" "$limit" tests/fixtures/*/model.safetensors tests/fixtures/*/inputs.safetensors ;;
        tokenizer_json) add_fixtures "$corpus" "$limit" tests/fixtures/*/tokenizer.json ;;
        wav) add_fixtures "$corpus" "$limit" tests/fixtures/audio_formats/* ;;
        image)
            for f in tests/fixtures/image_preprocess/*.png; do
                # CLIP steps at 224 (a shortest edge), crop 224x224, bicubic
                { printf '\xe0\x00\xe0\x00\x03\x03'; cat "$f"; } >"$corpus/fixture-$(basename "$f")"
            done ;;
        tokenizer) { printf '\x4d\x00\x05'; head -c 4000 tests/fixtures/clip_tokenizer/cases.json; } >"$corpus/fixture-cases" ;;
    esac
}

start=$(date +%s)
cargo +nightly fuzz build "${flags[@]}"
echo "fuzz targets built in $(($(date +%s) - start)) s"

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || mapfile -t targets < <(cargo +nightly fuzz list)
failed=()
for t in "${targets[@]}"; do
    corpus=fuzz/corpus/$t
    mkdir -p "$corpus" "fuzz/artifacts/$t"
    cp fuzz/seeds/"$t"/* "$corpus"/
    seed_fixtures "$t" "$corpus"
    args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len="${max_len[$t]:-65536}" -print_final_stats=1)
    [[ -z ${dict[$t]:-} ]] || args+=(-dict="fuzz/dicts/${dict[$t]}.dict")
    echo "== $t: ${seconds} s"
    if ! cargo +nightly fuzz run "${flags[@]}" "$t" "$corpus" -- "${args[@]}" 2>"fuzz/artifacts/$t.log"; then
        tail -n 60 "fuzz/artifacts/$t.log" | cut -c1-300 >&2
        failed+=("$t")
    else
        grep -E "^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+.*DONE" "fuzz/artifacts/$t.log" || true
    fi
done
echo "fuzzing took $(($(date +%s) - start)) s in all"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz targets that failed: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
    exit 1
fi
