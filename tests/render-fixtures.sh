#!/usr/bin/env bash
#  Render the test pages from known text with ImageMagick and a Debian font.
#  Usage: render-fixtures.sh OUTPUT_DIR
set -euo pipefail
out="${1:?usage: render-fixtures.sh OUTPUT_DIR}"
mkdir -p "$out"
font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
[ -f "$font" ] || { echo "render-fixtures: $font missing (fonts-dejavu-core)" >&2; exit 1; }
convert -version | grep -q ImageMagick \
    || { echo "render-fixtures: ImageMagick's convert is missing" >&2; exit 1; }

render () {   # name width height text
    convert -size "$2x$3" xc:white -font "$font" -pointsize 30 -fill black \
        -annotate +60+90 "$4" -density 300 -units PixelsPerInch \
        -type Grayscale "$out/$1.png"
}

render invoice 1240 760 "INVOICE

Invoice Number: INV-2041
Date: 2026-11-30
Customer: Acme Corporation
Email: billing@acme.example
Phone: +1 555 010 2030
Total: \$1,234.56"

render notes 1240 420 "DELIVERY NOTES

Warehouse: North Dock 7
Contact: Maria Lopez"

render form 1240 700 "APPLICATION FORM

Full Name: ____________________
Date of Birth: ____________________
Passport Number: ____________________
Email: ____________________"

convert "$out/invoice.png" -quality 92 "$out/invoice.jpg"
convert "$out/invoice.png" -compress lzw "$out/invoice.tif"
printf 'this is plain text, not an image\n' > "$out/not-image.txt"
head -c 200 "$out/invoice.png" > "$out/truncated.png"
echo "render-fixtures: wrote $(ls "$out" | wc -l) files to $out"
