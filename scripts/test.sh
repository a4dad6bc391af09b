#!/usr/bin/env bash
# Everything CI checks: setup, formatting, lints, and all tests — first for
# the Python the module builds against by default (the distribution's
# /usr/bin/python3, or PYO3_PYTHON), then again for every other CPython 3.10+
# this machine has (each built in its own target/pyX.Y).
#
# Other Pythons: MOD_WSGI_RS_PYTHONS="/path/to/python3.X ..." if set (empty:
# none), otherwise the newest patch release of each minor version 3.10 and
# later under $(pyenv root)/versions. A Python the Apache user cannot read
# (pyenv under /root) is tested through a readable copy
# (scripts/readable-python.sh).
#
# Runs every step and exits non-zero if any of them failed; prints which
# Python versions ran.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh none || exit 1
if ! command -v cargo >/dev/null 2>&1; then export PATH="$HOME/.cargo/bin:$PATH"; fi

failed=()
tested=()
label=""
step() {
    echo "==> ${label:+[$label] }$*" >&2
    if ! "$@"; then
        failed+=("${label:+[$label] }$*")
    fi
}

version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }

default_python="${PYO3_PYTHON:-/usr/bin/python3}"
default_version="$(version_of "$default_python")"
label="Python $default_version"
step cargo fmt --check
step cargo clippy --all-targets -- -D warnings
step cargo test --no-fail-fast
tested+=("$default_version ($default_python)")

# The other Pythons, newest patch per minor version.
if [[ -n "${MOD_WSGI_RS_PYTHONS+set}" ]]; then
    read -r -a others <<<"$MOD_WSGI_RS_PYTHONS"
else
    others=()
    root="${PYENV_ROOT:-$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")}"
    declare -A newest=()
    for dir in "$root"/versions/3.*; do
        [[ -d "$dir" ]] || continue
        v="$(basename "$dir")"
        [[ "$v" =~ ^3\.([0-9]+)\.([0-9]+)$ ]] || continue # no dev or free-threaded builds
        minor="${BASH_REMATCH[1]}"
        ((minor >= 10)) || continue
        [[ "3.$minor" == "$default_version" ]] && continue
        if [[ -z "${newest[$minor]:-}" ]] ||
            [[ "$(printf '%s\n%s\n' "${newest[$minor]}" "$v" | sort -V | tail -1)" == "$v" ]]; then
            newest[$minor]="$v"
        fi
    done
    for minor in $(printf '%s\n' "${!newest[@]}" | sort -n); do
        others+=("$root/versions/${newest[$minor]}/bin/python3.$minor")
    done
fi

for python in "${others[@]}"; do
    version="$(version_of "$python" 2>/dev/null)" || {
        failed+=("$python does not run")
        continue
    }
    label="Python $version"
    if ! copy="$(scripts/readable-python.sh "$python")"; then
        failed+=("[$label] a readable copy of $python")
        continue
    fi
    export PYO3_PYTHON="$copy" CARGO_TARGET_DIR="target/py$version"
    step scripts/setup.sh none
    step cargo clippy --all-targets -- -D warnings
    # The Debian package is always built for the distribution's Python
    # (tests/package.rs): the first pass ran it.
    step cargo test --no-fail-fast -- --skip the_debian_package
    unset PYO3_PYTHON CARGO_TARGET_DIR
    tested+=("$version ($copy)")
done

echo "Python versions tested:" >&2
printf '  %s\n' "${tested[@]}" >&2
if ((${#failed[@]})); then
    echo "FAILED:" >&2
    printf '  %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "all checks passed" >&2
