#!/usr/bin/env bash
# podman with what it needs on machines like CI's, for `make images` and the image's tests:
#   scripts/podman.sh run|build|... ARGS
# - runc, not crun: crun refuses the hybrid cgroup hierarchy some hosts (and CI) have.
# - rlimits given explicitly, at or below what the kernel lets this machine set: by default
#   podman asks for nofile=1048576 and the host's nproc, and without CAP_SYS_RESOURCE runc's
#   setrlimit fails ("operation not permitted"); an nproc above kernel.pid_max fails too.
set -euo pipefail
global=()
command -v runc >/dev/null && global+=(--runtime runc)
nofile=$(ulimit -Hn); nproc=$(ulimit -Hu); pid_max=$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 32768)
[ "$nofile" = unlimited ] && nofile=1048576
[ "$nproc" = unlimited ] && nproc=$pid_max
[ "$nproc" -gt "$pid_max" ] && nproc=$pid_max
command=$1
shift
case $command in
  run|create|build)
    exec podman "${global[@]}" "$command" --ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc" "$@" ;;
  *)
    exec podman "${global[@]}" "$command" "$@" ;;
esac
