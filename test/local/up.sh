#!/usr/bin/env bash
# Brings the whole local environment up in the background: a real control
# plane, a real node (containerd, kubelet, kube-proxy), libvirtd with QEMU, a
# registry holding the tiny guest and podvirt's images, a dynamic volume
# provisioner, and then podvirt itself, installed as on any cluster:
# `kubectl apply --server-side -k` of deploy/local (deploy/base plus local
# differences), two controller replicas and a node agent, all Pods. Then,
# unless --no-example is given, applies examples/vmi-tiny.yaml and waits
# until it runs. A second run while everything is up says so and does
# nothing else; a run after something stopped brings back what is missing.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"

example=true
[[ ${1:-} == --no-example ]] && example=false

# podvirt_ready: the controller replicas and the node agent are Ready.
podvirt_ready() {
  [[ $(kubectl_ -n podvirt-system get statefulset podvirt-controller -o jsonpath='{.status.readyReplicas}' 2>/dev/null) == 2 ]] &&
    [[ $(kubectl_ -n podvirt-system get daemonset podvirt-nodeagent -o jsonpath='{.status.numberReady}' 2>/dev/null) -ge 1 ]]
}
if running kube-apiserver && running kube-proxy && running kubelet && running libvirtd && running registry && podvirt_ready; then
  log "podvirt is already up (state in $PODVIRT_STATE); 'make down' stops it"
  exit 0
fi
t0=$(now)
mkdir -p "$PODVIRT_STATE"/{images,logs,pids,deploy,local-path}

"$here/install-deps.sh"
K8S_BIN=$("$here/build-k8s.sh")

"$here/up-controlplane.sh"
"$here/up-libvirt.sh"
"$here/up-registry.sh"
"$here/up-node.sh"

"$here/install.sh"

# The replicas are Ready, but kube-proxy may not route the webhook
# Service to them yet (seen on a fresh machine: connection refused at the
# ClusterIP for a moment after Ready): VMIPolicies are admitted through it.
wait_for "the default VMIPolicies admitted through the webhook Service" 60 \
  kubectl_ apply --server-side -k "$PODVIRT_REPO/deploy/default-policies"
log "environment up in $(since "$t0")"

if $example; then
  t1=$(now)
  # A VMI that ended (its guest powered off, or the host rebooted under
  # it) never runs again: start the example afresh rather than wait on it.
  phase=$(kubectl_ get vmi tiny -o jsonpath='{.status.phase}' 2>/dev/null || true)
  if [[ $phase == Failed || $phase == Succeeded ]]; then
    log "vmi/tiny had ended ($phase): deleting it to start it again"
    kubectl_ delete vmi tiny --wait=true --timeout=120s >/dev/null
  fi
  kubectl_ apply -f "$PODVIRT_REPO/examples/vmi-tiny.yaml"
  kubectl_ wait --for=jsonpath='{.status.phase}'=Running vmi/tiny --timeout=180s >/dev/null
  log "vmi/tiny Running $(since "$t1") after apply"
  kubectl_ get vmi,pods -o wide
fi

cat <<NEXT

podvirt is up. Try:
  export KUBECONFIG=$PODVIRT_STATE/kubeconfig PATH=$K8S_BIN:\$PATH
  kubectl get vmi                       # phase and node of each VM
  kubectl get vmi tiny -o yaml          # the defaults the webhook applied
  kubectl -n podvirt-system get pods -o wide   # podvirt itself: 2 controllers, a node agent per node
  kubectl logs virt-launcher-tiny       # the guest's serial console
  kubectl delete vmi tiny               # ACPI shutdown, then the Pod goes
Logs: $PODVIRT_STATE/logs/   Stop everything: make down
NEXT
