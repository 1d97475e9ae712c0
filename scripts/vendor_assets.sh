#!/usr/bin/env bash
# Copy the book's JavaScript from node_modules (installed from the npm registry by `npm ci`)
# into _vendor/vendor, which Sphinx serves as _static/vendor with the book: no request leaves the book's origin.
set -euo pipefail
cd "$(dirname "$0")/.."
dst=_vendor/vendor
rm -rf "$dst"
mkdir -p "$dst/mathjax" "$dst/html-manager"
# MathJax 3: the combined TeX + CHTML component, the components it loads lazily, and its fonts
cp node_modules/mathjax/es5/tex-chtml.js "$dst/mathjax/"
for d in input output adaptors a11y ui sre; do
  [ -d "node_modules/mathjax/es5/$d" ] && cp -r "node_modules/mathjax/es5/$d" "$dst/mathjax/"
done
cp node_modules/requirejs/require.js "$dst/require.min.js"
# the widget manager (AMD build) with everything under dist (its fonts and chunks)
cp -r node_modules/@jupyter-widgets/html-manager/dist/. "$dst/html-manager/"
echo "vendored: $(du -sh "$dst" | cut -f1) in $dst"
