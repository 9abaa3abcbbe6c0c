#!/usr/bin/env bash
# System libraries Qt needs even offscreen (fonts, xkb, EGL/GL, D-Bus). Installed only when missing,
# and only where we may (root with apt); elsewhere we say what to install and carry on.
set -u
need=()
for lib in libEGL.so.1 libGL.so.1 libxkbcommon.so.0 libfontconfig.so.1 libdbus-1.so.3 libglib-2.0.so.0; do
  ldconfig -p 2>/dev/null | grep -q "$lib" || need+=("$lib")
done
[ ${#need[@]} -eq 0 ] && exit 0
pkgs="libegl1 libgl1 libxkbcommon0 libfontconfig1 fonts-dejavu-core libdbus-1-3 libglib2.0-0"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing system libraries for Qt: $pkgs"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
else
  echo "Qt needs these system libraries, which are missing: ${need[*]}"
  echo "Install them with your package manager (Debian/Ubuntu: sudo apt-get install $pkgs)."
fi
exit 0
