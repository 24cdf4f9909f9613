#!/usr/bin/env bash
# Stop the test cluster started by start.sh (its daemons and any job left in its queue).
set -uo pipefail
DIR=${SLURM_TEST_DIR:-/tmp/dcesynth-slurm}
export SLURM_CONF=$DIR/slurm.conf
scancel --user="$(id -un)" >/dev/null 2>&1
for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid"; do
    [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
done
pkill -x slurmd 2>/dev/null
pkill -x slurmctld 2>/dev/null
pkill -x munged 2>/dev/null
# the system-wide link to a stopped controller would slow every later scontrol by ~9 s
if [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$DIR/slurm.conf" ]; then rm -f /etc/slurm/slurm.conf; fi
exit 0
