#!/usr/bin/env bash
# Debian packages Payor needs beside its Python environment, installed only when missing:
#   - Chromium and its driver for the browser tests (Playwright drives Debian's /usr/bin/chromium and never
#     downloads a browser);
#   - WeasyPrint's Pango/HarfBuzz and the DejaVu fonts to render receipts (PDF/A-3b), and poppler's pdftoppm,
#     which the receipt tests use to check a rendered page.
# Usage: scripts/system-packages.sh [browser] [documents]   (both when no argument is given)
# Without root or apt-get it says what is missing and exits 0: the suite then skips the browser tests outside CI.
set -euo pipefail

want_browser=0 want_documents=0
[ $# -eq 0 ] && set -- browser documents
for part in "$@"; do
  case "$part" in
    browser) want_browser=1 ;;
    documents) want_documents=1 ;;
    *) echo "unknown part: $part (browser | documents)" >&2; exit 2 ;;
  esac
done

missing=()
if [ "$want_browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  missing+=(chromium chromium-driver)
fi
if [ "$want_documents" = 1 ]; then
  command -v pdftoppm >/dev/null || missing+=(poppler-utils)
  [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
  ls /usr/lib/*/libpangoft2-1.0.so.0 >/dev/null 2>&1 || missing+=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "Payor: missing system packages: ${missing[*]} (install them with your package manager)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
