#!/usr/bin/env bash
# Stops the libvirtd that up-libvirt.sh started: destroys and undefines every
# domain in it first (they are all ours; running domains would otherwise
# outlive libvirtd), then stops libvirtd by its pid file. Safe to run when
# nothing is up, and twice.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

sock=$PODVIRT_STATE/libvirt/libvirt-sock

if running libvirtd && [[ -S $sock ]]; then
  mapfile -t doms < <(virsh_ list --all --name 2>/dev/null | sed '/^$/d')
  for d in "${doms[@]}"; do
    if [[ $(virsh_ domstate "$d" 2>/dev/null) != "shut off" ]]; then
      log "destroying domain $d"
      virsh_ destroy "$d" >/dev/null || log "warning: destroy $d failed"
    fi
    log "undefining domain $d"
    virsh_ undefine --nvram "$d" >/dev/null 2>&1 || virsh_ undefine "$d" >/dev/null || log "warning: undefine $d failed"
  done
fi

if running libvirtd; then
  log "stopping libvirtd (pid $(cat "$PODVIRT_STATE/pids/libvirtd.pid"))"
fi
stop_daemon libvirtd 15
rm -f "$sock" "$PODVIRT_STATE/libvirt/libvirt-sock-ro" "$PODVIRT_STATE/libvirt/libvirt-admin-sock"

# QEMU processes libvirt started carry "-name guest=..." on their command line.
if left=$(pgrep -f -- '-name guest=' 2>/dev/null); then
  log "warning: QEMU processes remain (pids: $(echo $left)); a libvirtd that is gone left them running"
fi
