#!/usr/bin/env bash
# Publishes DNS-01 TXT records in pebble-challtestsrv for the CLI peers.
#   lego (--dns exec, EXEC_PATH):   challtestsrv-hook.sh present|cleanup FQDN VALUE
#   certbot (--manual-*-hook):      challtestsrv-hook.sh present|cleanup   (CERTBOT_DOMAIN, CERTBOT_VALIDATION set)
# CHALLTESTSRV_URL is the management API, e.g. http://127.0.0.1:8055.
# Plain bash over /dev/tcp: a hook runs twice per name, so it should cost the peer next to nothing
# (no Node start-up) and need nothing that a fresh machine may lack (curl).
set -euo pipefail
host=${2:-_acme-challenge.${CERTBOT_DOMAIN:-}.}
value=${3:-${CERTBOT_VALIDATION:-}}
case $1 in
  present) path=set-txt ;;
  # clear-txt drops every value of the host. Both tools clean up only after the validations that share
  # the host are done (lego solves exec challenges one after another, certbot cleans up at the end).
  cleanup) path=clear-txt ;;
  *) exit 0 ;;
esac
address=${CHALLTESTSRV_URL#http://}
body="{\"host\":\"$host\",\"value\":\"$value\"}"
exec 3<>"/dev/tcp/${address%:*}/${address##*:}"
printf 'POST /%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
  "$path" "$address" "${#body}" "$body" >&3
read -r _ status _ <&3
[[ $status == 200 ]] || { echo "challtestsrv /$path answered ${status:-nothing}" >&2; exit 1; }
