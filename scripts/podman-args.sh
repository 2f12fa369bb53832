# Sourced by the scripts that run podman: what podman needs on machines like CI's.
# - runc, not crun: crun refuses the hybrid cgroup hierarchy some hosts (and CI) have.
# - rlimits set explicitly at or below what the kernel lets this machine set: by default
#   podman asks for nofile=1048576 and the host's nproc, and without CAP_SYS_RESOURCE runc's
#   setrlimit fails ("operation not permitted"); nproc above kernel.pid_max fails too.
podman_global=()
command -v runc >/dev/null && podman_global+=(--runtime runc)
_nofile=$(ulimit -Hn); _nproc=$(ulimit -Hu); _pid_max=$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 32768)
[ "$_nofile" = unlimited ] && _nofile=1048576
[ "$_nproc" = unlimited ] && _nproc=$_pid_max
[ "$_nproc" -gt "$_pid_max" ] && _nproc=$_pid_max
podman_limits=(--ulimit "nofile=$_nofile:$_nofile" --ulimit "nproc=$_nproc:$_nproc")
unset _nofile _nproc _pid_max
