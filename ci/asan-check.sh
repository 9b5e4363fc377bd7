#!/usr/bin/env bash
# ci/asan-check.sh — hakmem's blocks under AddressSanitizer: each mode of
# tests/asan/misuse.c must be reported by ASan at the faulting line.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BUILD:-build}/asan/misuse
pass=0 fail=0
for mode in uaf overflow large; do
    line=$(grep -n "ASAN-LINE $mode \*/" tests/asan/misuse.c | cut -d: -f1)
    out=$("$bin" "$mode" 2>&1 || true)
    if grep -qE 'ERROR: AddressSanitizer: use-after-poison' <<<"$out" &&
       grep -qE "#0 .* in main .*tests/asan/misuse.c:$line" <<<"$out"; then
        echo "asan $mode: reported at tests/asan/misuse.c:$line"
        pass=$((pass + 1))
    else
        echo "asan $mode: NOT reported at line $line:"; echo "$out" | head -20
        fail=$((fail + 1))
    fi
done
echo "asan: $pass passed, $fail failed"
[ $fail -eq 0 ]
