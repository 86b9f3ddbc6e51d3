#!/usr/bin/env bash
# Simulated nodes for scale tests, beside the local environment's real one.
#
#   kwok.sh up [N]   N (default 4) kwok nodes kwok-node-0..N-1, each with its
#                    own podvirt node agent on libvirt's test driver
#   kwok.sh down     stops the agents and kwok, deletes the nodes
#
# kwok (built from the Go module proxy, cached) keeps the nodes Ready and
# plays the kubelet for the Pods bound to them: they turn Running without a
# container. Each node's agent runs on this machine as a process, with the
# identity a real node agent has: a client certificate for user
# system:podvirt:nodeagent:kwok-node-I in group podvirt:nodeagents, so the
# node agent authorizer and admission policy confine it to its own node.
# It verifies the controller's signatures with the cluster's trusted keys,
# localizes and checks each domain as on a real node, and defines it in
# libvirtd's test driver (--domain-type test, a node file of its own), with
# no images, disks, taps or cgroups (--simulate-host).
#
# The nodes carry the label podvirt.io/kwok=true and the taint
# kwok.x-k8s.io/node=fake:NoSchedule: only Pods that tolerate it land there.
# The environment must be up (make run).
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"

KWOK_VERSION=v0.8.0
kwok_dir=$PODVIRT_STATE/kwok
kwok_bin=$PODVIRT_CACHE/kwok-$KWOK_VERSION/bin/kwok

build_kwok() {
  [[ -x $kwok_bin ]] && return 0
  log "building kwok $KWOK_VERSION from the module proxy into $(dirname "$kwok_bin") (once, about 2 min)"
  mkdir -p "$(dirname "$kwok_bin")"
  (cd "$(mktemp -d)" && GOBIN=$(dirname "$kwok_bin") GOFLAGS=-mod=mod go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION")
}

# kwok_stages: kwok's own "fast" stages (nodes Ready at once, Pods Running
# at once and deleted once their finalizers are gone), from its module at
# the version built.
kwok_stages() {
  local mod
  mod=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  [[ -d $mod/kustomize/stage ]] || die "kwok's stages not found in the module cache ($mod)"
  local f
  for f in node/fast/node-initialize.yaml pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    printf -- '--config=%s\n' "$mod/kustomize/stage/$f"
  done
}

node_manifest() {
  cat <<NODE
apiVersion: v1
kind: Node
metadata:
  name: $1
  labels: {podvirt.io/kwok: "true", type: kwok, kubernetes.io/hostname: $1, kubernetes.io/os: linux, kubernetes.io/arch: amd64}
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
spec:
  taints: [{key: kwok.x-k8s.io/node, value: fake, effect: NoSchedule}]
status:
  allocatable: {cpu: "32", memory: 128Gi, pods: "110", ephemeral-storage: 500Gi}
  capacity: {cpu: "32", memory: 128Gi, pods: "110", ephemeral-storage: 500Gi}
NODE
}

# node_file I: libvirt's test driver's node file for agent I (each file is a
# host of its own: a connection to it sees only its own domains).
node_file() {
  cat <<XML
<node>
  <cpu><nodes>1</nodes><sockets>1</sockets><cores>32</cores><threads>1</threads><active>32</active><mhz>2000</mhz><model>x86_64</model></cpu>
  <memory>134217728</memory>
</node>
XML
}

up() {
  local n=${1:-4} i node
  running kube-apiserver || die "the local environment is not up: run 'make run' first"
  build_kwok
  mkdir -p "$kwok_dir/bin"
  (cd "$PODVIRT_REPO" && CGO_ENABLED=0 go build -o "$kwok_dir/bin/" ./cmd/podvirt-nodeagent)
  kubectl_ -n podvirt-system get configmap podvirt-trusted-keys -o 'jsonpath={.data.trusted-keys\.pem}' >"$kwok_dir/trusted-keys.pem"
  [[ -s $kwok_dir/trusted-keys.pem ]] || die "no trusted keys in configmap podvirt-system/podvirt-trusted-keys: is podvirt installed?"

  if ! running kwok; then
    local stages
    mapfile -t stages < <(kwok_stages)
    start_daemon kwok "$kwok_bin" --kubeconfig="$PODVIRT_STATE/kubeconfig" \
      --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
      --manage-nodes-with-label-selector= --disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom \
      --disregard-status-with-label-selector= --cidr=10.250.0.0/16 --node-ip=10.250.0.1 \
      --node-lease-duration-seconds=40 --server-address=127.0.0.1:10247 "${stages[@]}"
  fi
  for ((i = 0; i < n; i++)); do
    node=kwok-node-$i
    node_manifest "$node" | kubectl_ apply --server-side -f - >/dev/null
    # The agent's identity: the user the node agent authorizer and the
    # admission policy tie to this node, in the group RBAC grants.
    pki_cert "kwok-agent-$i" "/O=podvirt:nodeagents/CN=system:podvirt:nodeagent:$node" clientAuth
    write_kubeconfig "$kwok_dir/agent-$i.kubeconfig" "system:podvirt:nodeagent:$node" "$PODVIRT_PKI/kwok-agent-$i.crt" "$PODVIRT_PKI/kwok-agent-$i.key"
    node_file >"$kwok_dir/node-$i.xml"
    mkdir -p "$kwok_dir/agent-$i"
    running "kwok-agent-$i" && continue
    start_daemon "kwok-agent-$i" "$kwok_dir/bin/podvirt-nodeagent" --kubeconfig="$kwok_dir/agent-$i.kubeconfig" \
      --node-name="$node" --libvirt-socket="$PODVIRT_STATE/libvirt/libvirt-sock" --libvirt-uri="test://$kwok_dir/node-$i.xml" \
      --domain-type=test --simulate-host --state-dir="$kwok_dir/agent-$i" --trusted-keys-file="$kwok_dir/trusted-keys.pem" \
      --metrics-bind-address="127.0.0.1:$((18100 + i))" --lease-namespace=podvirt-system
  done
  for ((i = 0; i < n; i++)); do
    wait_for "node kwok-node-$i Ready" 60 bash -c "[[ \$('$K8S_BIN/kubectl' --kubeconfig '$PODVIRT_STATE/kubeconfig' get node kwok-node-$i -o 'jsonpath={.status.conditions[?(@.type==\"Ready\")].status}') == True ]]"
    wait_for "the agent of kwok-node-$i serving metrics" 60 curl -sf "http://127.0.0.1:$((18100 + i))/metrics"
  done
  log "$n kwok nodes Ready, each with a node agent on libvirt's test driver (logs: $PODVIRT_STATE/logs/kwok-agent-*.log)"
}

# kwok_pods: "namespace name node" of every Pod bound to a kwok node.
kwok_pods() {
  kubectl_ get pods -A -o jsonpath='{range .items[*]}{.metadata.namespace}{" "}{.metadata.name}{" "}{.spec.nodeName}{"\n"}{end}' |
    awk '$3 ~ /^kwok-node-/'
}

down() {
  local names=() f ns name node
  if running kube-apiserver; then
    # Launcher Pods still there go while their agents and kwok run, as on
    # a node being drained: each agent ends its domains and lets go of its
    # finalizer, and kwok finishes the deletion.
    kwok_pods | while read -r ns name node; do
      [[ -n $(kubectl_ -n "$ns" get pod "$name" -o jsonpath='{.metadata.labels.podvirt\.io/vmi}' 2>/dev/null) ]] || continue
      kubectl_ -n "$ns" delete pod "$name" --wait=false >/dev/null 2>&1 || true
    done
    local deadline=$((SECONDS + 60))
    while [[ -n $(kubectl_ get pods -A -l podvirt.io/vmi -o jsonpath='{.items[*].spec.nodeName}' | tr ' ' '\n' | grep '^kwok-node-') ]] &&
      ((SECONDS < deadline)); do sleep 1; done
    # No node, no DaemonSet Pod put back on it.
    kubectl_ delete node -l podvirt.io/kwok=true --ignore-not-found --wait=false >/dev/null
  fi
  for f in "$PODVIRT_STATE"/pids/kwok-agent-*.pid; do
    [[ -e $f ]] && names+=("$(basename "$f" .pid)")
  done
  ((${#names[@]} == 0)) || stop_daemons 10 "${names[@]}"
  stop_daemons 10 kwok
  if running kube-apiserver; then
    # What no agent finished: its finalizer is removed with its own
    # identity (the Pod guard lets only the agents do that), then every
    # Pod left on the nodes (the node agent DaemonSet's too, which
    # tolerates every taint) is deleted for good.
    kwok_pods | while read -r ns name node; do
      # A PATCH alone: kubectl patch would get the Pod first, which the
      # node agent authorizer refuses an agent.
      local i=${node#kwok-node-}
      curl -sf -o /dev/null -X PATCH --cacert "$PODVIRT_PKI/ca.crt" --cert "$PODVIRT_PKI/kwok-agent-$i.crt" --key "$PODVIRT_PKI/kwok-agent-$i.key" \
        -H 'Content-Type: application/json-patch+json' -d '[{"op":"remove","path":"/metadata/finalizers"}]' \
        "https://127.0.0.1:$PODVIRT_APISERVER_PORT/api/v1/namespaces/$ns/pods/$name" || true
      kubectl_ -n "$ns" delete pod "$name" --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    done
    kubectl_ -n podvirt-system get lease -o name | grep '/podvirt-nodeagent-kwok-node-' |
      xargs -r "$K8S_BIN/kubectl" --kubeconfig "$PODVIRT_STATE/kubeconfig" -n podvirt-system delete >/dev/null || true
  fi
  rm -rf "$kwok_dir"/agent-*/ "$kwok_dir"/node-*.xml
  log "kwok nodes down"
}

case ${1:-} in
  up) up "${2:-4}" ;;
  down) down ;;
  *) die "usage: kwok.sh up [N] | down" ;;
esac
