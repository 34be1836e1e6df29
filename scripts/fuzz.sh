#!/usr/bin/env bash
# Builds the libFuzzer harnesses (Fuzz/Sources) with AddressSanitizer and runs each for SECONDS
# (default 60, what CI runs; docs/security.md gives the long-run command). New interesting inputs
# go to .build-fuzz/corpus/<harness>; a crash is written to .build-fuzz/crashes/ and fails the run:
# turn it into a regression input under Fuzz/corpus/ (replayed by tests/python/test_fuzz_corpus.py).
set -euo pipefail
cd "$(dirname "$0")/.."
EACH="${1:-60}"
swift build --scratch-path .build-fuzz --product berth-fuzz \
    -Xswiftc -DFUZZING -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library > .build-fuzz.log 2>&1 \
    || { grep -E "error" .build-fuzz.log | sort -u | head -20; echo "fuzz build failed (.build-fuzz.log)" >&2; exit 1; }
BIN=$(swift build --scratch-path .build-fuzz --product berth-fuzz --show-bin-path)/berth-fuzz
mkdir -p .build-fuzz/crashes
for h in onnx v2-json binary-tensor; do
    mkdir -p ".build-fuzz/corpus/$h"
    echo "==> fuzzing $h for ${EACH}s"
    BERTH_FUZZ=$h "$BIN" -max_total_time="$EACH" -max_len=65536 -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 \
        -artifact_prefix=".build-fuzz/crashes/$h-" ".build-fuzz/corpus/$h" "Fuzz/corpus/$h" 2>&1 \
        | grep -E "^#[0-9]+.*(DONE|pulse)|stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Test unit written" | tail -6
    test "${PIPESTATUS[0]}" -eq 0
done
