#!/usr/bin/env bash
# The whole test suite: system packages the tests drive, build, lint and type-check, then tap.
# A missing system package is installed when we can (root with apt-get), otherwise we stop and say
# exactly what to install. No test is skipped silently.
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package that provides it
declare -A NEEDS=(
  [curl]=curl
  [git]=git
  [bwrap]=bubblewrap
  [ip]=iproute2
  [iptables]=iptables
  [ip6tables]=iptables
  [nft]=nftables
  [openssl]=openssl
  [setpriv]=util-linux
  [kubectl]=kubernetes-client
  [python3]=python3
  [cc]=gcc
  [chromium]=chromium
  [systemd-analyze]=systemd
)
missing=()
for cmd in "${!NEEDS[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEEDS[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test/run.sh: installing system packages the tests need: $pkgs"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  else
    echo "test/run.sh: the tests need these Debian packages, and this shell cannot install them:" >&2
    echo "  sudo apt-get install -y $pkgs" >&2
    exit 1
  fi
fi
export PATH="$PATH:/usr/sbin:/sbin"

npm run build --silent
npx eslint .
npx tsc -p tsconfig.test.json
# What the tests make they remove: a run that leaves files in the temp directories or the state
# directory fails, naming them, rather than slowly filling the machine.
# A directory that does not exist holds nothing: find's complaint about it must not end the run.
leftovers() {
  find "${TMPDIR:-/tmp}" /var/tmp -maxdepth 1 -name 'guarded*' 2>/dev/null || true
  # Where a proxy keeps its admin token and discovery file (proxy/admin-token.ts, runtimeDir).
  find "${XDG_RUNTIME_DIR:-$HOME/.local/state}/guarded" "$HOME/.local/state/guarded" -type f 2>/dev/null || true
}
before=$(leftovers | sort -u)
npx tap "$@"
left=$(comm -13 <(echo "$before") <(leftovers | sort -u))
if [ -n "$left" ]; then
  echo "test/run.sh: the tests passed but left these behind (a test must remove what it makes;" >&2
  echo "a guarded-run or proxy you started during the run also counts):" >&2
  echo "$left" >&2
  exit 1
fi
