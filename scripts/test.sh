#!/usr/bin/env bash
#  The one command to test docusnap: install what is needed, build, run
#  the whole suite, then build again with AddressSanitizer and
#  UndefinedBehaviorSanitizer and run the suite once more, then once more
#  with ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

echo "== format (clang-format, .clang-format)"
if command -v clang-format >/dev/null; then
    git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror
else
    echo "clang-format not installed; format check skipped"
fi

echo "== build and test (RelWithDebInfo)"
bash scripts/build.sh build
(cd build && ctest --output-on-failure -j "$(nproc)")

echo "== build and test (ASan + UBSan)"
bash scripts/build.sh build-asan -DDS_SANITIZER=address,undefined \
    -DDS_BUILD_BENCH=OFF
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
(cd build-asan && ctest --output-on-failure -j "$(nproc)")

echo "== build and test (TSan)"
CC=clang bash scripts/build.sh build-tsan -DDS_SANITIZER=thread \
    -DDS_BUILD_BENCH=OFF
export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp:halt_on_error=1:${TSAN_OPTIONS:-}"
(cd build-tsan && ctest --output-on-failure -j "$(nproc)")
