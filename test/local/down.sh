#!/usr/bin/env bash
# Stops everything up.sh started, removes the domains it created, and undoes
# what the kubelet changed on the host. The cluster's state (etcd, PKI) goes
# too, so the next make run starts a fresh cluster. Safe to run twice.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"

# kwok and its nodes' agents (kwok.sh), if a scale test left them.
for f in "$PODVIRT_STATE"/pids/kwok*.pid; do
  [[ -e $f ]] && stop_daemon "$(basename "$f" .pid)"
done
rm -rf "$PODVIRT_STATE/kwok"

# podvirt runs as Pods: they stop with the node (down-node.sh stops every
# container of this node's containerd).
"$here/down-libvirt.sh" # first: guests run inside the kubelet's Pod cgroups
# Pod-network bridges and veths of guests that were still running (the
# node agent removes them when it stops a guest).
for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^pv[bh][0-9a-f]{10}$' || true); do
  ip link del "$link" 2>/dev/null || true
done
"$here/down-node.sh"
"$here/down-registry.sh"
"$here/down-controlplane.sh" --purge # the next make run starts a fresh cluster
# ... whose volumes (the controller's audit logs) are new too.
rm -rf "$PODVIRT_STATE/local-path" "$PODVIRT_STATE/deploy"
log "podvirt is down"
