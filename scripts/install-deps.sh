#!/usr/bin/env bash
# Installs whichever packages of scripts/debian-packages.txt (or of the list file named by the
# optional first argument, e.g. load/debian-packages.txt) are missing (Debian 12, as root or
# with sudo). Does nothing, and needs no network, when all are present.
set -euo pipefail
list="${1:-$(dirname "$0")/debian-packages.txt}"
# Names that installed packages provide count as present: NodeSource's nodejs provides (and
# conflicts with) npm, so asking apt for Debian's npm there would fail.
provided=$(dpkg-query -W -f='${db:Status-Abbrev} ${Provides}\n' 2>/dev/null |
    awk '$1 == "ii" { $1 = ""; print }' | tr ',' '\n' | sed -E 's/\([^)]*\)//g; s/^ +//; s/ +$//')
missing=()
while read -r pkg; do
    [[ -z "$pkg" || "$pkg" == \#* ]] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" && continue
    grep -qxF "$pkg" <<< "$provided" || missing+=("$pkg")
done < "$list"
[[ ${#missing[@]} -eq 0 ]] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
