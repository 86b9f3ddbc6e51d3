#!/usr/bin/env bash
# Starts a libvirtd for podvirt (no systemd needed), with its sockets under
# $PODVIRT_STATE/libvirt. Idempotent: a libvirtd we started is left alone.
# Connect with: qemu:///system?socket=$PODVIRT_STATE/libvirt/libvirt-sock
# (see libvirt_uri in lib.sh). Stop with down-libvirt.sh.
#
# libvirt keeps global state under /var/run/libvirt and /var/lib/libvirt, so
# only one libvirtd may run on a machine: this script refuses to start when a
# libvirtd that is not ours is running.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $(id -u) == 0 ]] || die "up-libvirt.sh must run as root (libvirt's qemu:///system driver)"
command -v libvirtd >/dev/null || die "libvirtd not installed: apt-get install -y --no-install-recommends libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 ovmf swtpm swtpm-tools"

lv_dir=$PODVIRT_STATE/libvirt
sock=$lv_dir/libvirt-sock
conf=$lv_dir/libvirtd.conf
pidfile=$PODVIRT_STATE/pids/libvirtd.pid
mkdir -p "$lv_dir" "$PODVIRT_STATE/pids" "$PODVIRT_STATE/logs"

# 1. libvirt's QEMU driver looks this user up before it reads qemu.conf.
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu

# 2. /etc/libvirt/qemu.conf (read by the QEMU driver of any system libvirtd):
# set our six keys, keep everything else.
qemu_conf=/etc/libvirt/qemu.conf
qemu_conf_changed=false
set_conf() { # set_conf FILE KEY VALUE (VALUE written verbatim, quote strings)
  local f=$1 k=$2 v=$3
  grep -Eq "^[[:space:]]*$k[[:space:]]*=[[:space:]]*$v[[:space:]]*$" "$f" && return 0
  if grep -Eq "^[[:space:]]*$k[[:space:]]*=" "$f"; then
    sed -i -E "s|^[[:space:]]*$k[[:space:]]*=.*|$k = $v|" "$f"
  else
    printf '%s = %s\n' "$k" "$v" >>"$f"
  fi
  qemu_conf_changed=true
}
mkdir -p /etc/libvirt
[[ -f $qemu_conf ]] || printf '# Created by podvirt test/local/up-libvirt.sh\n' >"$qemu_conf"
set_conf "$qemu_conf" user '"root"'
set_conf "$qemu_conf" group '"root"'
set_conf "$qemu_conf" security_driver '"none"'
set_conf "$qemu_conf" stdio_handler '"file"' # no virtlogd here
# An emulated TPM (devices.tpm): libvirt runs swtpm as this user; root, as
# QEMU runs here, so no swtpm account need exist.
set_conf "$qemu_conf" swtpm_user '"root"'
set_conf "$qemu_conf" swtpm_group '"root"'

# 3. libvirtd's own config (written every time; same content each time).
cat >"$conf.tmp" <<EOF
# Written by podvirt test/local/up-libvirt.sh; rewritten on every run.
unix_sock_dir = "$lv_dir"
unix_sock_group = "root"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
listen_tls = 0
listen_tcp = 0
max_client_requests = 50
log_level = 3
log_outputs = "3:file:$PODVIRT_STATE/logs/libvirtd-internal.log"
EOF
mv "$conf.tmp" "$conf"

# 4. Already ours and running?
ours=""
if running libvirtd; then ours=$(cat "$pidfile"); fi
if [[ -n $ours ]]; then
  $qemu_conf_changed && log "warning: $qemu_conf changed while libvirtd (pid $ours) runs; restart it (down-libvirt.sh; up-libvirt.sh) to apply"
  wait_for "libvirtd socket $sock" 30 test -S "$sock"
  log "libvirtd already running (pid $ours): $(libvirt_uri)"
  exit 0
fi

# 5. Refuse when some other libvirtd runs: its state in /var/run/libvirt is global.
for pid in $(pgrep -x libvirtd || true); do
  die "another libvirtd is running (pid $pid: $(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)); only one libvirtd can run per machine. Stop it first, or run down-libvirt.sh with the PODVIRT_STATE that started it."
done

# 6. Start it. -d daemonizes; libvirtd itself writes (and locks) the pid file.
rm -f "$pidfile"
log "starting libvirtd (config $conf)"
libvirtd -d --config "$conf" --pid-file "$pidfile" >>"$PODVIRT_STATE/logs/libvirtd.log" 2>&1 \
  || die "libvirtd failed to start; see $PODVIRT_STATE/logs/libvirtd.log and libvirtd-internal.log"
wait_for "libvirtd socket $sock" 30 test -S "$sock"
running libvirtd || die "libvirtd exited; see $PODVIRT_STATE/logs/libvirtd-internal.log"
log "libvirtd running (pid $(cat "$pidfile")): $(libvirt_uri)"
