#!/bin/bash
# Bursts of background jobs, queued with no worker and then drained, on one server; VmRSS after each step.
# Run from the repository root after `dotnet build Gearman.Server -c Release`:
#   docs/benchmarks/memory-bursts.sh ours 47320                      # epoll (the default transport)
#   docs/benchmarks/memory-bursts.sh ours 47321 --transport kestrel
#   docs/benchmarks/memory-bursts.sh gearmand 47322
# Environment: ROUNDS (3), JOBS (15000), SIZE (65536 bytes). Extra arguments go to the server.
set -euo pipefail
kind=$1; port=$2; shift 2
ROUNDS=${ROUNDS:-3}; JOBS=${JOBS:-15000}; SIZE=${SIZE:-65536}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
loadgen=$work/loadgen
gcc -O2 -o "$loadgen" Gearman.Benchmarks/Throughput/loadgen.c -lgearman -lpthread
# The worker stops at stdin EOF; a FIFO held open here keeps it running until it has done --jobs jobs.
mkfifo "$work/stdin"
exec 4<>"$work/stdin"
if [ "$kind" = gearmand ]; then
  /usr/sbin/gearmand -t 1 -L 127.0.0.1 -p "$port" -l "$work/gearmand.log" "$@" & pid=$!
else
  dotnet Gearman.Server/bin/Release/net10.0/Gearman.Server.dll --listen 127.0.0.1 --port "$port" --queue-type memory "$@" >"$work/server.log" 2>&1 & pid=$!
fi
for _ in $(seq 50); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
rss() { awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$pid/status"; }
sleep 2
echo "$kind idle RSS MiB: $(rss)"
for r in $(seq "$ROUNDS"); do
  "$loadgen" submit --port "$port" --threads 1 --jobs "$JOBS" --size "$SIZE" --batch 100 --function mem_echo >/dev/null
  queued=$(rss)
  "$loadgen" worker --port "$port" --threads 2 --jobs "$JOBS" --function mem_echo <"$work/stdin" >/dev/null
  drained=$(rss); sleep 5
  echo "$kind round $r: queued $queued MiB, drained $drained MiB, +5 s $(rss) MiB"
done
kill "$pid"; wait "$pid" 2>/dev/null || true
