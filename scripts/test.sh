#!/usr/bin/env bash
# Everything CI checks: setup, formatting, lints, and all tests.
# Runs every step and exits non-zero if any of them failed.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh none || exit 1
if ! command -v cargo >/dev/null 2>&1; then export PATH="$HOME/.cargo/bin:$PATH"; fi

failed=()
step() {
    echo "==> $*" >&2
    if ! "$@"; then
        failed+=("$*")
    fi
}

step cargo fmt --check
step cargo clippy --all-targets -- -D warnings


step cargo test

if ((${#failed[@]})); then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "all checks passed" >&2
