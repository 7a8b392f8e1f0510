#!/bin/bash
# Where one server's CPU goes under the harness's 64 KiB loads, measured on the server process alone:
# `perf stat` syscall counts and task-clock around the measured part, or (PERF_RECORD=1) a `perf record -g` profile
# with the .NET perf map (JIT code and, with ReadyToRun off, the framework's code named).
# Run from the repository root as root (perf) after `dotnet build Gearman.Server -c Release`:
#   docs/benchmarks/perf-64k.sh ours fg 3000          # fg-64k's shape: 1 client, 1 worker, foreground, batch 1
#   docs/benchmarks/perf-64k.sh gearmand bg 5000      # bg-64k's shape: 1 submitter (batches of 100), 2 workers
#   PERF_RECORD=1 docs/benchmarks/perf-64k.sh ours bg 5000 && perf report -i perf-64k.data --no-children
# Environment: SERVER_DLL (our server's build), SIZE (65536). 500 warm-up jobs run before the measured ones.
set -euo pipefail
kind=$1; mode=$2; jobs=$3
SIZE=${SIZE:-65536}; SERVER_DLL=${SERVER_DLL:-Gearman.Server/bin/Release/net10.0/Gearman.Server.dll}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
loadgen=$work/loadgen
gcc -O2 -o "$loadgen" Gearman.Benchmarks/Throughput/loadgen.c -lgearman -lpthread
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Workers stop at stdin EOF; a FIFO held open here keeps them running.
mkfifo "$work/stdin"
exec 4<>"$work/stdin"
if [ "$kind" = gearmand ]; then
  /usr/sbin/gearmand -t 1 -L 127.0.0.1 -p "$port" -l "$work/gearmand.log" & pid=$!
else
  DOTNET_PerfMapEnabled=1 DOTNET_ReadyToRun=$([ -n "${PERF_RECORD:-}" ] && echo 0 || echo 1) dotnet "$SERVER_DLL" --listen 127.0.0.1 --port "$port" --queue-type memory >"$work/server.log" 2>&1 & pid=$!
fi
for _ in $(seq 50); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
common=(--port "$port" --size "$SIZE")
if [ -n "${PERF_RECORD:-}" ]; then
  measure=(perf record -F 2000 -g -o perf-64k.data -p "$pid")
else
  measure=(perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_epoll_wait,page-faults,context-switches,task-clock -p "$pid")
fi
if [ "$mode" = fg ]; then
  "$loadgen" worker "${common[@]}" --threads 1 <"$work/stdin" >/dev/null & worker=$!
  sleep 0.5
  "$loadgen" client "${common[@]}" --threads 1 --batch 1 --jobs 500 >/dev/null
  "${measure[@]}" & perf=$!
  sleep 0.3
  "$loadgen" client "${common[@]}" --threads 1 --batch 1 --jobs "$jobs"
  kill -INT "$perf"; wait "$perf" || true
  kill "$worker" 2>/dev/null || true
else
  "$loadgen" worker "${common[@]}" --threads 2 --latency --jobs 500 <"$work/stdin" >/dev/null & warm=$!
  sleep 0.5
  "$loadgen" submit "${common[@]}" --threads 1 --batch 100 --jobs 500 >/dev/null
  wait "$warm"
  "$loadgen" worker "${common[@]}" --threads 2 --latency --jobs "$jobs" <"$work/stdin" & worker=$!
  sleep 0.5
  "${measure[@]}" & perf=$!
  sleep 0.3
  "$loadgen" submit "${common[@]}" --threads 1 --batch 100 --jobs "$jobs"
  wait "$worker"
  kill -INT "$perf"; wait "$perf" || true
fi
kill "$pid"; wait "$pid" 2>/dev/null || true
