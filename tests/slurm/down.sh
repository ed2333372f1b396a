#!/usr/bin/env bash
# Stops the cluster up.sh DIR started: its jobs, then the daemons it recorded (by PID), and
# removes the configuration files up.sh wrote.
set -uo pipefail
S=$(realpath "$1")
MARK="# txai test cluster: written by tests/slurm/up.sh, removed by tests/slurm/down.sh"
if [ -f "$S/slurmctld.pid" ]; then  # only this cluster's jobs can be in its queue
  scancel --full --quiet --partition=cpu,gpu 2>/dev/null
  for _ in $(seq 50); do [ -z "$(squeue -h -t R,CG 2>/dev/null)" ] && break; sleep 0.2; done
fi
for name in slurmd slurmctld munged; do
  [ -f "$S/$name.pid" ] || continue
  pid=$(cat "$S/$name.pid")
  kill "$pid" 2>/dev/null && echo "stopped $name ($pid)"
  for _ in $(seq 100); do ps -o stat= -p "$pid" | grep -qv Z || break; sleep 0.1; done
  rm -f "$S/$name.pid"
done
for f in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
  [ -f "$f" ] && grep -qxF "$MARK" "$f" && rm -f "$f"
done
exit 0
