#!/usr/bin/env bash
# System packages the app and its tests need. Qt needs a few libraries even offscreen (fonts, xkb,
# EGL/GL, D-Bus); with --test, Debian's chromium too (the HTML report is checked in a real browser).
# Installed only when missing, and only where we may (root with apt); elsewhere we say what to
# install and carry on.
set -u
pkgs=()
for pair in libEGL.so.1:libegl1 libGL.so.1:libgl1 libxkbcommon.so.0:libxkbcommon0 \
            libfontconfig.so.1:libfontconfig1 libdbus-1.so.3:libdbus-1-3 libglib-2.0.so.0:libglib2.0-0; do
  ldconfig -p 2>/dev/null | grep -q "${pair%%:*}" || pkgs+=("${pair##*:}")
done
fc-list 2>/dev/null | grep -qi . || pkgs+=(fonts-dejavu-core)
if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null; then
  pkgs+=(chromium)
fi
[ ${#pkgs[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing system packages: ${pkgs[*]}"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
else
  echo "These system packages are missing: ${pkgs[*]}"
  echo "Install them with your package manager (Debian/Ubuntu: sudo apt-get install ${pkgs[*]})."
fi
exit 0
