#!/usr/bin/env bash
# Re-vendor the JavaScript that renders saved ipywidgets in the built book (offline: no CDN).
# Writes assets/widgets/ (served as _static/widgets/ through html_static_path in _config.yml).
# Needs npm and the npm registry; run by hand when bumping versions, then rebuild the book and run
# tests/test_browser.py. Versions here must match assets/widgets/VERSIONS.txt (this script writes it).
set -euo pipefail
HTML_MANAGER_VERSION="${HTML_MANAGER_VERSION:-1.0.15}"   # @jupyter-widgets/html-manager 1.x = ipywidgets 8 (controls 5, base 6)
REQUIREJS_VERSION="${REQUIREJS_VERSION:-2.3.8}"
cd "$(dirname "$0")/.."
dest=assets/widgets
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@jupyter-widgets/html-manager@${HTML_MANAGER_VERSION}" "requirejs@${REQUIREJS_VERSION}" >/dev/null)
mkdir -p "$work/hm" "$work/rq"
tar xzf "$work"/jupyter-widgets-html-manager-*.tgz -C "$work/hm"
tar xzf "$work"/requirejs-*.tgz -C "$work/rq"
rm -rf "$dest" && mkdir -p "$dest"
# embed-amd.js finds its fonts next to itself (webpack publicPath = the script's own URL).
cp "$work/hm/package/dist/embed-amd.js" "$dest/"
cp "$work"/hm/package/dist/*.woff2 "$work"/hm/package/dist/*.woff "$dest/"   # Chromium/Firefox use woff2/woff only
cp "$work/hm/package/dist/embed.js.LICENSE.txt" "$dest/embed-amd.js.LICENSE.txt"
cp "$work/hm/package/LICENSE" "$dest/LICENSE.html-manager" 2>/dev/null || true
cp "$work/rq/package/require.js" "$dest/require.js"
{
  echo "@jupyter-widgets/html-manager ${HTML_MANAGER_VERSION} (BSD-3-Clause; bundles Font Awesome 5 fonts, SIL OFL 1.1)"
  echo "requirejs ${REQUIREJS_VERSION} (MIT)"
  echo "fetched with: npm pack (tools/vendor_widgets.sh)"
  (cd "$dest" && sha256sum embed-amd.js require.js)
} > "$dest/VERSIONS.txt"
echo "vendored into $dest:"; cat "$dest/VERSIONS.txt"
