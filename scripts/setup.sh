#!/usr/bin/env bash
# Installs what building and testing Argus Usage needs on Debian, if missing:
# the WebKitGTK stack for the desktop shell, Xvfb for headless windows,
# poppler-utils for reading PDFs back, faketime to run the binaries at a
# fixed date in tests. Safe to run again: it only installs
# what is absent.
set -euo pipefail

packages=(
  build-essential pkg-config libssl-dev
  libwebkit2gtk-4.1-dev
  xvfb xauth imagemagick webkit2gtk-driver
  poppler-utils faketime
  libdbus-1-dev dbus-daemon dbus-bin gnome-keyring dunst
  chromium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "setup: cargo is not on PATH; install Rust with rustup" >&2; exit 1; }

# The WebDriver bridge to the real window (tests and screenshots).
if ! command -v tauri-driver >/dev/null; then
  echo "setup: installing tauri-driver (cargo install, about a minute)" >&2
  cargo install tauri-driver --locked --version '^2' --quiet
fi
