#!/usr/bin/env bash
# Install the Debian packages toiawase needs, only those missing:
#   fonts-ipafont-gothic  Japanese glyphs for the plots (category names in the confusion matrix)
#   chromium, chromium-driver  (with --browser) headless browser for the end-to-end test
#   postgresql  (with --postgres) server binaries (initdb, pg_ctl) for the feedback store's tests,
#               which start a throwaway cluster of their own (no system service is used)
# Flags combine: `install-system-deps.sh --browser --postgres` (what `make test` runs).
# Needs root (or sudo); without either, prints what to install and exits 0 so a user can do it.
set -euo pipefail
packages=(fonts-ipafont-gothic)
for flag in "$@"; do
  case "$flag" in
    --browser) packages+=(chromium chromium-driver) ;;
    --postgres) packages+=(postgresql) ;;
    *) echo "install-system-deps.sh: unknown option $flag (use --browser, --postgres)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -eq 0 ]]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
  echo "toiawase: please install these Debian packages: ${missing[*]}" >&2
  exit 0
fi
echo "toiawase: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
