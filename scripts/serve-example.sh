#!/usr/bin/env bash
# Builds mod_wsgi-rs and serves examples/hello.wsgi with wsgi-express.
# Extra arguments go to wsgi-express, e.g.  scripts/serve-example.sh --port 8080
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh none
if ! command -v cargo >/dev/null 2>&1; then export PATH="$HOME/.cargo/bin:$PATH"; fi
cargo build --release
exec target/release/wsgi-express examples/hello.wsgi "$@"
