#!/usr/bin/env bash
# Runs the chat example in headless Chromium (tests/browser). Installs Debian's chromium and
# the pinned playwright-core when missing. Screenshot: target/browser/chat.png.
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
