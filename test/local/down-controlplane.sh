#!/usr/bin/env bash
# Stops the control plane started by up-controlplane.sh: kube-controller-manager,
# kube-scheduler, kube-apiserver, etcd (in that order). Cluster data (etcd) and
# PKI are kept, so up-controlplane.sh resumes the same cluster; with --purge
# they are deleted too, and the next start is from scratch. Run down-node.sh
# first. Safe to run when nothing is up, and twice.
#
# Usage: down-controlplane.sh [--purge]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

purge=false
for a in "$@"; do
  case $a in
  --purge) purge=true ;;
  *) die "usage: $0 [--purge]" ;;
  esac
done
t0=$(now)
stop_daemons 15 kube-controller-manager kube-scheduler
stop_daemons 15 kube-apiserver
stop_daemons 10 etcd
if $purge; then
  running kubelet && log "warning: the kubelet is still running (run down-node.sh first)"
  rm -rf --one-file-system "$PODVIRT_STATE/etcd" "$PODVIRT_PKI" "$PODVIRT_STATE/kubeconfig"
  log "purged etcd data, PKI and kubeconfig"
fi
log "control plane down in $(since "$t0")"
