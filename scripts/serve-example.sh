#!/usr/bin/env bash
# Builds mod_wsgi-rs and serves examples/hello.wsgi with wsgi-express.
# Extra arguments go to wsgi-express, e.g.  scripts/serve-example.sh --port 8080
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh none
if ! command -v cargo >/dev/null 2>&1; then export PATH="$HOME/.cargo/bin:$PATH"; fi
cargo build --release
app=examples/hello.wsgi
if [[ $(id -u) -eq 0 ]]; then
    # Apache's children run as www-data, which may not be able to read this
    # clone (under /root, say): serve a copy it can read.
    copy=/var/cache/mod_wsgi_rs/example
    install -d -m 755 "$copy"
    install -m 644 "$app" "$copy/hello.wsgi"
    app="$copy/hello.wsgi"
fi
# Apache's logs on the terminal (else they go to files in the server root).
exec target/release/wsgi-express "$app" --log-to-terminal "$@"
