#!/usr/bin/env bash
# Sends the abusive requests of issue 14 to a running pulse-vsphere and prints, for each, the
# HTTP status, the error code, the time to answer, the response size and (with a PID) the
# server's RSS afterwards. docs/reliability.md quotes its output.
#
# usage: scripts/abuse-probe.sh [BASE_URL] [SERVER_PID]
#   e.g. target/release/pulse-vsphere serve --demo & scripts/abuse-probe.sh http://127.0.0.1:8080 $!
set -euo pipefail
BASE=${1:-http://127.0.0.1:8080}
PID=${2:-}
HOSTPORT=${BASE#http://}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

rss() { [ -n "$PID" ] && awk '/VmRSS/ {printf "%d MB", $2/1024}' "/proc/$PID/status" || echo "-"; }

# probe NAME FILE [CONTENT_TYPE]: POSTs FILE and prints one line.
probe() {
  local name=$1 file=$2 ct=${3:-application/json}
  local args=(-s -o "$TMP/out" -w '%{http_code} %{time_total} %{size_download}\n' -X POST "$BASE/graphql" --data-binary "@$file")
  [ "$ct" != none ] && args+=(-H "content-type: $ct")
  read -r status secs size < <(curl "${args[@]}")
  local code
  code=$(grep -o '"code":"[A-Z_]*"' "$TMP/out" | head -1 | cut -d'"' -f4 || true)
  printf '%-34s %s %-26s %7.3f s %9d bytes  rss %s\n' "$name" "$status" "${code:--}" "$secs" "$size" "$(rss)"
}

# json QUERY: a request body for QUERY (no quotes or backslashes in QUERY).
json() { printf '{"query":"%s"}' "$1"; }

echo "server rss at start: $(rss)"

bomb=""
for i in $(seq 0 4999); do bomb+="a$i: vsphereVms(first: 500) { nodes { id } } "; done
json "{ $bomb }" > "$TMP/bomb"
probe "alias bomb (5,000 aliases)" "$TMP/bomb"

chain="id"
for _ in 1 2 3 4; do chain="vms { nodes { host { $chain } } }"; done
json "{ vsphereHosts { nodes { $chain } } }" > "$TMP/nest"
probe "15-level nesting" "$TMP/nest"

aliases=""
for i in $(seq 0 19); do aliases+="h$i: vsphereHosts { ...C } "; done
json "{ $aliases } fragment C on VsphereAgentConnection { nodes { $chain } }" > "$TMP/frag20"
probe "20 aliases through a fragment" "$TMP/frag20"

doc="{ ...F24 } fragment F0 on Query { vspherePlatform { id } }"
for i in $(seq 1 24); do doc+=" fragment F$i on Query { ...F$((i - 1)) ...F$((i - 1)) }"; done
json "$doc" > "$TMP/double"
probe "doubling fragment chain" "$TMP/double"

json "{ vsphereVms(first: 2147483648) { totalCount } }" > "$TMP/int"
probe "first: 2147483648" "$TMP/int"
json "{ vsphereVms(first: 5 { totalCount } }" > "$TMP/parse"
probe "parse error" "$TMP/parse"
printf 'not json' > "$TMP/notjson"
probe "body not JSON" "$TMP/notjson"
json "{ vsphereVms(first: 1) { totalCount } }" > "$TMP/ok"
for ct in text/plain application/x-www-form-urlencoded "multipart/form-data; boundary=x" none; do
  probe "Content-Type: $ct" "$TMP/ok" "$ct"
done
probe "Content-Type: application/json" "$TMP/ok"

# The doubling chain from two clients, 100 times each, while /healthz is probed.
for _ in 1 2; do
  (for _ in $(seq 100); do curl -s -o /dev/null -X POST "$BASE/graphql" -H 'content-type: application/json' --data-binary "@$TMP/double"; done) &
done
worst=0
for _ in $(seq 40); do
  t=$(curl -s -o /dev/null -m 30 -w '%{time_total}' "$BASE/healthz")
  worst=$(awk -v a="$worst" -v b="$t" 'BEGIN { print (b > a) ? b : a }')
  sleep 0.05
done
wait
echo "slowest /healthz of 40 while two clients send the chain 100 times each: ${worst} s"

# 300 half-sent requests held open.
fds=()
for _ in $(seq 300); do
  exec {fd}<>"/dev/tcp/${HOSTPORT%:*}/${HOSTPORT##*:}"
  printf 'POST /graphql HTTP/1.1\r\nHost: x\r\n' >&"$fd"
  fds+=("$fd")
done
echo "/healthz with 300 half-sent requests open: $(curl -s -o /dev/null -m 30 -w '%{http_code} %{time_total} s' "$BASE/healthz")  rss $(rss)"
sleep 11
open=0
for fd in "${fds[@]}"; do
  if timeout 0.2 cat <&"$fd" >/dev/null 2>&1; then :; else [ $? -eq 124 ] && open=$((open + 1)); fi
  exec {fd}>&-
done
echo "half-sent requests still open 11 s later: $open of 300"
