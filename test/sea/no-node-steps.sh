#!/usr/bin/env bash
# The commands the single executable must run where no node exists (see no-node-view.sh). Each step
# leaves NAME.out, NAME.err and NAME.rc in OUT for the test to check; nothing here judges them.
#
# Usage: bash no-node-steps.sh OUT BIN
set -u
out=$1 bin=$2
run() {
  local name=$1
  shift
  "$@" >"$out/$name.out" 2>"$out/$name.err"
  echo $? >"$out/$name.rc"
}
# Waits (bounded) for a background command's first line that carries "port":N, and prints N.
port_of() {
  local file=$1 i
  for i in $(seq 1 150); do
    if grep -q '"port":[0-9]' "$file" 2>/dev/null; then
      grep -o '"port":[0-9]*' "$file" | head -1 | cut -d: -f2
      return 0
    fi
    sleep 0.1
  done
  return 1
}

{
  echo "cwd=$(pwd) entries=$(ls -A | wc -l)"
  echo "env=$(env | cut -d= -f1 | sort | tr '\n' ' ')"
  for n in node nodejs; do "$n" --version >/dev/null 2>&1 && echo "$n runs"; done
} >"$out/view.out"

run version "$bin" --version

"$bin" serve --port 0 --workers 2 --json >"$out/serve.out" 2>"$out/serve.err" &
serve=$!
port=$(port_of "$out/serve.out") || port=0
echo "$port" >"$out/serve.port"

run sockets "$bin" sockets --summary --json
ss -Htln >"$out/ss-listen.out"
run doctor "$bin" doctor --json --duration 1
run bench "$bin" bench -n 500 -c 4 -w 2 --json "http://127.0.0.1:$port/"

"$bin" dashboard --listen 127.0.0.1:0 --json >"$out/dashboard.out" 2>"$out/dashboard.err" &
dash=$!
if dport=$(port_of "$out/dashboard.out"); then
  run dashboard-index curl -sS --max-time 30 "http://127.0.0.1:$dport/"
  script=$(grep -o 'src="[^"]*\.js"' "$out/dashboard-index.out" | head -1 | cut -d'"' -f2)
  script=${script#.}
  run dashboard-script curl -sS --max-time 30 -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$dport$script"
fi
kill -INT $dash
wait $dash

"$bin" exporter --listen 127.0.0.1:0 --json >"$out/exporter.out" 2>"$out/exporter.err" &
exp=$!
if eport=$(port_of "$out/exporter.out"); then
  run metrics curl -sS --max-time 30 "http://127.0.0.1:$eport/metrics"
fi
kill -INT $exp
wait $exp

if [ "$(id -u)" = 0 ] && command -v bpftrace >/dev/null; then
  "$bin" trace --duration 6 --json --port "$port" >"$out/trace.out" 2>"$out/trace.err" &
  trace=$!
  for i in $(seq 1 100); do grep -q '"type":"start"' "$out/trace.out" 2>/dev/null && break; sleep 0.1; done
  for i in 1 2 3; do curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; done
  wait $trace
  echo $? >"$out/trace.rc"
fi

run lab "$bin" lab run E1 --quick --json

# A read-only cache that already holds the tree (a container image unpacked into at build time).
cache="$(getent passwd "$(id -u)" | cut -d: -f6)/.cache/tcplens"
if mount --bind "$cache" "$cache" && mount -o remount,bind,ro "$cache"; then
  run readonly "$bin" --version
  touch "$cache/probe" 2>/dev/null && echo writable >"$out/readonly.note"
fi

kill -INT $serve
wait $serve
echo $? >"$out/serve.rc"
