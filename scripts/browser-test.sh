#!/usr/bin/env bash
# Runs the chat and socketio_chat examples in headless Chromium (tests/browser), over http and
# over https (--tls with tests/tls/; the page opens wss://), and a https page opening wss:// to
# the echo example. Installs Debian's chromium and the pinned playwright-core when missing.
# Screenshots: target/browser/*.png.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
cd tests/browser
npm ci --no-audit --no-fund --loglevel=error
node --test
