#!/usr/bin/env bash
# Install headless Chromium and its WebDriver from Debian packages, for the browser test.
# Idempotent: does nothing when both binaries are already present. Playwright's own browser
# download does not work on these machines, so the Debian packages are the supported path.
set -euo pipefail

if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    echo "chromium and chromedriver already installed: $(/usr/bin/chromium --version 2>/dev/null || true)"
    exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_chromium.sh: need root (or sudo) to apt-get install chromium chromium-driver" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
install() { $SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver; }
# The package lists may be empty or stale on a fresh image: update, then install (once more on failure).
if ! apt-cache show chromium-driver >/dev/null 2>&1; then
    $SUDO apt-get update -q
fi
if ! install; then
    $SUDO apt-get update -q
    install
fi
echo "installed: $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
