#!/usr/bin/env bash
# Installs what the tests need, only when it is missing (idempotent, safe to run every time).
#   scripts/ensure-deps.sh           Pebble, challtestsrv, BIND (named, dig, nsupdate), redis-server, npm packages
#   scripts/ensure-deps.sh --bench   also lego and certbot (the peers the benchmarks compare against)
# System services the packages ship (named, redis) are kept from starting during the install;
# the tests never use them: they start their own instances on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."

bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1 ;;
    *) echo "usage: $0 [--bench]" >&2; exit 2 ;;
  esac
done

# binary:package
wanted=(
  /usr/bin/pebble:pebble
  /usr/bin/pebble-challtestsrv:pebble
  /usr/sbin/named:bind9
  /usr/bin/dig:bind9-dnsutils
  /usr/bin/nsupdate:bind9-dnsutils
  /usr/bin/redis-server:redis-server
)
if [[ $bench == 1 ]]; then
  wanted+=(/usr/bin/lego:lego /usr/bin/certbot:certbot)
fi

missing=()
for entry in "${wanted[@]}"; do
  binary=${entry%%:*} package=${entry#*:}
  if [[ ! -x $binary ]] && [[ " ${missing[*]-} " != *" $package "* ]]; then
    missing+=("$package")
  fi
done

if ((${#missing[@]})); then
  sudo=()
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || { echo "ensure-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "ensure-deps: installing ${missing[*]}" >&2
  # Keep packaged services from starting (Debian's invoke-rc.d/deb-systemd-invoke honour policy-rc.d).
  policy=/usr/sbin/policy-rc.d
  added_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    added_policy=1
  fi
  trap 'if [[ $added_policy == 1 ]]; then "${sudo[@]}" rm -f "$policy"; fi' EXIT
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  for entry in "${wanted[@]}"; do
    [[ -x ${entry%%:*} ]] || { echo "ensure-deps: ${entry%%:*} still missing after installing ${entry#*:}" >&2; exit 1; }
  done
fi

command -v node >/dev/null || { echo "ensure-deps: Node.js >= 20.19 is required" >&2; exit 1; }
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || { echo "ensure-deps: Node.js >= 20.19 is required (found $(node --version))" >&2; exit 1; }

# npm writes node_modules/.package-lock.json on every install: older than the lockfile => stale.
if [[ -f package-lock.json ]]; then
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --no-audit --no-fund
  fi
elif [[ ! -d node_modules ]]; then
  npm install --no-audit --no-fund
fi
