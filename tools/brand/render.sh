#!/usr/bin/env sh
# Renders the Hookbridge logo sources to the 512x512 PNGs the app stores take:
# the Zapier listing logo and the Make app icon. Needs rsvg-convert (Debian:
# librsvg2-bin). The PNGs are committed; run this after changing an SVG.
set -eu
cd "$(dirname "$0")"
mkdir -p ../../zapier-app/assets ../../make-app/general
rsvg-convert -w 512 -h 512 logo.svg -o ../../zapier-app/assets/logo.png
rsvg-convert -w 512 -h 512 icon-white.svg -o ../../make-app/general/icon.png
echo "wrote zapier-app/assets/logo.png and make-app/general/icon.png"
