#!/usr/bin/env bash
# Start a single-node SLURM cluster bound to 127.0.0.1 for the integration tests.
#
# Installs Debian's slurm 22.05 (slurmctld, slurmd, slurm-client) and munge when missing (needs
# root and the Debian package registry), writes a slurm.conf under $SLURM_TEST_DIR (default
# /tmp/dcesynth-slurm) with every state, spool, pid and log file there, starts munged, slurmctld
# and slurmd, and waits until a job runs. No accounting daemon: sacct does not work, so the
# profile's status command is squeue. Only loopback traffic. Stop with tests/slurm/stop.sh.
set -euo pipefail

DIR=${SLURM_TEST_DIR:-/tmp/dcesynth-slurm}
mkdir -p "$DIR"/{state,spool,log}

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    if [ "$(id -u)" != 0 ]; then
        echo "slurm is not installed and installing it needs root (apt-get install slurmctld slurmd slurm-client munge)" >&2
        exit 2
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >"$DIR/log/apt.log" 2>&1
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >>"$DIR/log/apt.log" 2>&1
fi

# munge: a key, and the daemon running as its own user
if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
fi
chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0700 /etc/munge
chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge && chown munge:munge /run/munge && chmod 0755 /run/munge
if ! pgrep -x munged >/dev/null; then
    runuser -u munge -- munged --force
fi

CPUS=$(nproc)
MEM_MB=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
CONF=$DIR/slurm.conf
cat >"$CONF" <<CONF
ClusterName=dcesynth-test
SlurmctldHost=localhost
SlurmctldPort=6817
SlurmdPort=6818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
MinJobAge=300
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
# Job steps inside a batch job find the config only at the default path; stop.sh removes this link
# again (a link to a stopped controller makes every `scontrol` wait ~9 s, and the SLURM executor
# plugin calls scontrol whenever Snakemake starts).
mkdir -p /etc/slurm
ln -sf "$CONF" /etc/slurm/slurm.conf
export SLURM_CONF=$CONF

pgrep -x slurmctld >/dev/null || slurmctld -f "$CONF"
pgrep -x slurmd >/dev/null || slurmd -f "$CONF" -N localhost

for _ in $(seq 1 60); do
    if srun -t1 --immediate=10 true 2>/dev/null; then
        echo "slurm up: $(sinfo -h -o '%P %D %c CPUs %m MB %T')"
        exit 0
    fi
    scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
    sleep 1
done
echo "slurm did not come up; logs in $DIR/log" >&2
tail -n 20 "$DIR"/log/*.log >&2 || true
exit 1
