#!/usr/bin/env bash
# install-browser.sh makes sure Debian's Chromium is installed for the browser attack suite
# (pentest/, driven by puppeteer-core). Never a downloaded browser: the suite runs the distribution's
# build, which gets Debian's security updates. Idempotent: does nothing when chromium is present.
#
#   scripts/install-browser.sh        # prints the browser path on stdout
#
# CHROMIUM_PATH overrides the browser to check (default /usr/bin/chromium).
set -euo pipefail

CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
log() { echo "install-browser: $*" >&2; }

if [[ -x "$CHROMIUM_PATH" ]]; then
	echo "$CHROMIUM_PATH"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	log "$CHROMIUM_PATH is missing and there is no apt-get: install Chromium and set CHROMIUM_PATH"
	exit 1
fi
SUDO=""
if [[ "$(id -u)" != 0 ]]; then
	command -v sudo >/dev/null 2>&1 || { log "installing chromium needs root: run as root or install sudo"; exit 1; }
	SUDO="sudo"
fi

# apt/dpkg hold their own lock; parallel callers (two make runs) wait for it rather than failing.
log "installing Debian chromium (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt_log="$(mktemp)"
if ! { $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq &&
	$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium; } >"$apt_log" 2>&1; then
	cat "$apt_log" >&2
	log "apt-get install chromium failed"
	rm -f "$apt_log"
	exit 1
fi
rm -f "$apt_log"

[[ -x "$CHROMIUM_PATH" ]] || { log "apt-get installed chromium but $CHROMIUM_PATH is missing: set CHROMIUM_PATH"; exit 1; }
log "installed $("$CHROMIUM_PATH" --version 2>/dev/null || echo chromium)"
echo "$CHROMIUM_PATH"
