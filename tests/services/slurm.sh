#!/usr/bin/env bash
# A one-node Slurm cluster on this machine for the tests: munged + slurmctld + slurmd,
# started and stopped by PID (never by name). Needs root and Debian's slurm-wlm and munge.
#   slurm.sh start DIR [PORT]  writes DIR/slurm.conf (export SLURM_CONF=DIR/slurm.conf);
#                              slurmctld on PORT (default 16827), slurmd on PORT + 1;
#                              waits until the node is idle
#   slurm.sh stop DIR          stops what start started
# From ../shared/backends/slurm.sh: no systemd here, so proctrack/linuxproc and task/none;
# the node's name must be `hostname -s`; munged needs /run/munge owned by munge.
set -euo pipefail
cmd=$1; W=$(realpath -m "$2"); PORT=${3:-16827}
H=$(hostname -s)
# At least 4 CPUs whatever the machine has (config_overrides: slurmd takes the
# configuration's word), so 4 small jobs run at once, as on a cluster.
CPUS=$(nproc); [ "$CPUS" -ge 4 ] || CPUS=4

wait_for() {  # wait_for SECONDS CMD...
  local end=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 0.1; done
}
stop_pid() {  # stop_pid FILE: TERM, wait up to 10 s, then KILL that one PID
  local f=$1 p
  [ -s "$f" ] || return 0; p=$(cat "$f")
  kill "$p" 2>/dev/null || { rm -f "$f"; return 0; }
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true; rm -f "$f"
}

start() {
  rm -rf "$W"; mkdir -p "$W/state" "$W/spool" /run/munge; chmod 755 "$W"
  chown munge:munge /run/munge
  [ -s /etc/munge/munge.key ] || { mungekey -c -f; chown munge:munge /etc/munge/munge.key; }
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged; cp /run/munge/munged.pid "$W/munged.pid"
  fi
  cat >"$W/slurm.conf" <<CONF
ClusterName=runnertest
SlurmctldHost=$H(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$W/jobcomp.txt
MailProg=/bin/true
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MinJobAge=300
InactiveLimit=0
KillWait=2
OverTimeLimit=0
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/slurmctld.log
SlurmdLogFile=$W/slurmd.log
SlurmdParameters=config_overrides
NodeName=$H NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=$H Default=YES MaxTime=INFINITE State=UP
CONF
  chmod 644 "$W/slurm.conf"
  export SLURM_CONF=$W/slurm.conf
  slurmctld -i
  slurmd
  wait_for 30 sh -c 'sinfo -h -o %T | grep -q idle' || { tail -5 "$W"/slurm*.log >&2; exit 1; }
}

stop() {
  # Jobs first: a job's slurmstepd outlives a stopped slurmd.
  if [ -s "$W/slurmctld.pid" ]; then
    export SLURM_CONF=$W/slurm.conf
    jobs=$(squeue -h -o %i 2>/dev/null || true)
    [ -z "$jobs" ] || scancel $jobs 2>/dev/null || true
    wait_for 15 sh -c '[ -z "$(squeue -h -o %i 2>/dev/null)" ]' || true
  fi
  stop_pid "$W/slurmd.pid"; stop_pid "$W/slurmctld.pid"; stop_pid "$W/munged.pid"
}

"$cmd"
