#!/usr/bin/env bash
# Builds the Debian package libapache2-mod-wsgi-rs_<version>_<arch>.deb with
# cargo-deb (metadata in Cargo.toml, maintainer scripts in packaging/debian)
# and checks it with lintian. Prints the package's path on the last line.
#
#   scripts/package.sh            (PYO3_PYTHON as for scripts/setup.sh; the
#                                  package depends on that Python's libpython)
#
# The distribution's Python is the one to package: a Python of your own has
# no Debian package for dpkg-shlibdeps to depend on.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh none >&2
if ! command -v cargo >/dev/null 2>&1; then export PATH="$HOME/.cargo/bin:$PATH"; fi

cargo deb --strip >&2
deb="$(ls -t "${CARGO_TARGET_DIR:-target}"/debian/libapache2-mod-wsgi-rs_*.deb | head -1)"
# Errors fail the build; warnings and notes are shown.
lintian --fail-on error "$deb" >&2
echo "$deb"
