#!/usr/bin/env bash
# benchmarks/quiet.sh CMD... — run a timing command on a shared machine with every other python / qemu /
# pytest / pip / edgekit / ray process paused (SIGSTOP; re-scanned every second, so ones started meanwhile
# are paused too), and resume them all when CMD ends, however it ends. The paused work just waits.
#
# Why: a 2-thread timing needs both cores at the same instant; with other jobs runnable it measures the
# load (benchmarks/results/threads.md, runs at load 13-23). Note the kernel's load average lags by a
# minute: the figure a script prints at its start still counts the processes paused a moment before.
#   bash benchmarks/quiet.sh python benchmarks/peer.py --cache /tmp/peer -o /tmp/peer.md
set -u
setsid "$@" &
child=$!
sleep 0.3
sid=$(ps -o sid= -p "$child" | tr -d ' ')
paused=""
resume() { [ -n "$paused" ] && kill -CONT $paused 2>/dev/null; }
trap resume EXIT
trap 'kill -TERM "$child" 2>/dev/null' INT TERM
while kill -0 "$child" 2>/dev/null; do
  new=$(ps -eo pid=,sid=,stat=,comm= | awk -v s="$sid" -v me=$$ \
        '$2 != s && $1 != me && $3 !~ /T/ && $4 ~ /^(python|qemu|pytest|pip|edgekit|ray)/ {print $1}')
  if [ -n "$new" ]; then kill -STOP $new 2>/dev/null; paused="$paused $new"; fi
  sleep 1
done
wait "$child"
