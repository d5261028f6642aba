#!/usr/bin/env bash
# A screenshot of a run report (report.html) in headless Chromium, for the docs
# (docs/report-screenshot.png). Installs Debian's `chromium` package when it is missing (as root,
# through apt-get). The page is a local file with nothing to fetch.
#   scripts/report-screenshot.sh <run dir>/report.html [out.png]
#   scripts/report-screenshot.sh --install      only install chromium
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "report-screenshot: needs Debian's chromium package: sudo apt-get install chromium" >&2
    exit 1
  fi
  echo "report-screenshot: installing chromium (apt-get)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
[ "${1:-}" = "--install" ] && exit 0
report=${1:?usage: scripts/report-screenshot.sh <run dir>/report.html [out.png]}
out=$(realpath -m "${2:-docs/report-screenshot.png}")
[ -f "$report" ] || { echo "report-screenshot: no such file: $report" >&2; exit 1; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --user-data-dir="$profile" \
  --window-size=1000,1500 --screenshot="$out" "file://$(realpath "$report")" 2>/dev/null
echo "report-screenshot: wrote $out" >&2
