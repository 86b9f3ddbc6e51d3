#!/usr/bin/env bash
# Brings the whole local environment up in the background: a real control
# plane, a real node (containerd + kubelet), libvirtd with QEMU, a registry
# holding the tiny guest, podvirt's CRDs and webhook configurations
# (deploy/local), podvirt-controller and podvirt-nodeagent. Then, unless
# --no-example is given, applies examples/vmi-tiny.yaml and waits until it
# runs. A second run while everything is up says so and does nothing else.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"

example=true
[[ ${1:-} == --no-example ]] && example=false
WEBHOOK_PORT=19443

if running kube-apiserver && running kubelet && running libvirtd && running podvirt-controller && running podvirt-nodeagent; then
  log "podvirt is already up (state in $PODVIRT_STATE); 'make down' stops it"
  exit 0
fi
t0=$(now)
mkdir -p "$PODVIRT_STATE"/{bin,images,logs,pids}

"$here/install-deps.sh"
K8S_BIN=$("$here/build-k8s.sh")

log "building podvirt"
(cd "$PODVIRT_REPO" && CGO_ENABLED=0 go build -trimpath -o "$PODVIRT_STATE/bin/" \
  ./cmd/podvirt-controller ./cmd/podvirt-nodeagent ./cmd/podvirt-launcher)
(cd "$PODVIRT_REPO" && go run ./test/tools/ocipack --tag podvirt.io/launcher:dev \
  --entrypoint /podvirt-launcher --file "$PODVIRT_STATE/bin/podvirt-launcher:/podvirt-launcher:0755" \
  --out "$PODVIRT_STATE/images/launcher.tar" >/dev/null)

"$here/up-controlplane.sh"
"$here/up-libvirt.sh"
"$here/up-registry.sh"
"$here/up-node.sh" "$PODVIRT_STATE/images/launcher.tar"

log "installing CRDs and webhook configurations (deploy/local)"
kubectl_ apply -k "$PODVIRT_REPO/deploy/local" >/dev/null
kubectl_ wait --for=condition=Established crd/virtualmachineinstances.podvirt.io --timeout=60s >/dev/null

# The controller runs as its service account and the node agent as its
# node's agent (client certificates naming them), so deploy/base's RBAC and
# node restriction are what they get.
pki_cert podvirt-controller "/O=system:serviceaccounts/O=system:serviceaccounts:podvirt-system/CN=system:serviceaccount:podvirt-system:podvirt-controller" clientAuth
pki_cert podvirt-nodeagent "/O=podvirt:nodeagents/CN=system:podvirt:nodeagent:$PODVIRT_NODE" clientAuth
for id in podvirt-controller podvirt-nodeagent; do
  write_kubeconfig "$PODVIRT_STATE/$id.kubeconfig" "$id" "$PODVIRT_PKI/$id.crt" "$PODVIRT_PKI/$id.key"
done

if ! running podvirt-controller; then
  start_daemon podvirt-controller "$PODVIRT_STATE/bin/podvirt-controller" \
    --kubeconfig "$PODVIRT_STATE/podvirt-controller.kubeconfig" --leader-elect=false \
    --webhook-host 127.0.0.1 --webhook-port "$WEBHOOK_PORT" --cert-hosts 127.0.0.1 \
    --cert-dir "$PODVIRT_STATE/controller/certs" \
    --admission-client-ca-file "$PODVIRT_PKI/ca.crt" --admission-client-names kube-apiserver-admission \
    --metrics-bind-address 127.0.0.1:18080 --health-probe-bind-address 127.0.0.1:18081 \
    --audit-dir "$PODVIRT_STATE/audit" --replica local-0 --policy-audit-interval 30s \
    --domain-type qemu --launcher-image podvirt.io/launcher:dev --launcher-image-pull-policy Never
fi
wait_for "podvirt-controller readiness" 60 curl -fsS http://127.0.0.1:18081/readyz
log "podvirt-controller ready (webhooks on https://127.0.0.1:$WEBHOOK_PORT)"

kubectl_ apply -k "$PODVIRT_REPO/deploy/default-policies" >/dev/null

# Node agents trust the keys the controller publishes.
kubectl_ -n podvirt-system get configmap podvirt-trusted-keys -o jsonpath='{.data.trusted-keys\.pem}' >"$PODVIRT_STATE/trusted-keys.pem"
[[ -s $PODVIRT_STATE/trusted-keys.pem ]] || die "the controller published no trusted keys"

if ! running podvirt-nodeagent; then
  start_daemon podvirt-nodeagent "$PODVIRT_STATE/bin/podvirt-nodeagent" \
    --kubeconfig "$PODVIRT_STATE/podvirt-nodeagent.kubeconfig" --node-name "$PODVIRT_NODE" \
    --libvirt-socket "$PODVIRT_STATE/libvirt/libvirt-sock" --state-dir "$PODVIRT_STATE/nodeagent" \
    --trusted-keys-file "$PODVIRT_STATE/trusted-keys.pem" --kubelet-root-dir "$PODVIRT_STATE/kubelet/root" \
    --allowed-registries "$PODVIRT_REGISTRY" --metrics-bind-address 127.0.0.1:18082
fi
sleep 0.5
running podvirt-nodeagent || die "podvirt-nodeagent exited; see $PODVIRT_STATE/logs/podvirt-nodeagent.log"
log "environment up in $(since "$t0")"

if $example; then
  t1=$(now)
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
  cat $PODVIRT_STATE/nodeagent/vmis/\$(kubectl get vmi tiny -o jsonpath='{.metadata.uid}')/serial.log   # the guest's console
  kubectl delete vmi tiny               # ACPI shutdown, then the Pod goes
Logs: $PODVIRT_STATE/logs/   Stop everything: make down
NEXT
