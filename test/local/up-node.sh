#!/usr/bin/env bash
# Starts a real node next to the local control plane (up-controlplane.sh):
# containerd with its own config, socket and CNI network (bridge podvirt0,
# pods on $PODVIRT_POD_CIDR), the pause image built from test/tools/pause,
# then a kubelet registering as $PODVIRT_NODE. Components already running are
# left alone.
#
# Usage: up-node.sh [IMAGE.tar ...]   extra image tarballs to import into
#                                     containerd's k8s.io namespace.
# Ports: kubelet $PODVIRT_KUBELET_PORT (10250) on the host address, its
# healthz 10248 on 127.0.0.1.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

POD_CIDR=${PODVIRT_POD_CIDR:-10.244.0.0/24}
BRIDGE=${PODVIRT_BRIDGE:-podvirt0}
CNI_NETWORK=podvirt-local
KUBELET_PORT=${PODVIRT_KUBELET_PORT:-10250}
PAUSE_IMAGE=podvirt.io/pause:dev
SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward net.ipv4.conf.all.route_localnet)

for f in "$@"; do [[ -s $f ]] || die "image tarball $f not found"; done
[[ -x $K8S_BIN/kubelet ]] || die "$K8S_BIN/kubelet missing: run test/local/build-k8s.sh first"
[[ -x $K8S_BIN/kube-proxy ]] || die "$K8S_BIN/kube-proxy missing: run test/local/build-k8s.sh first"
for c in containerd ctr runc; do command -v $c >/dev/null || die "$c missing (apt-get install containerd runc)"; done
[[ -x /usr/lib/cni/bridge ]] || die "/usr/lib/cni/bridge missing (apt-get install containernetworking-plugins)"
[[ -s $PODVIRT_PKI/ca.key && -s $PODVIRT_STATE/kubeconfig ]] || die "no control plane PKI in $PODVIRT_STATE: run up-controlplane.sh first"
kubectl_ get --raw /readyz --request-timeout=5s >/dev/null 2>&1 || die "kube-apiserver not ready: run up-controlplane.sh first"

t0=$(now)
ip=$(host_ip)
[[ -n $ip ]] || die "no non-loopback IPv4 address found"
ctrd=$PODVIRT_STATE/containerd
sock=$ctrd/containerd.sock
kdir=$PODVIRT_STATE/kubelet
cni=$PODVIRT_STATE/cni
((${#sock} < 100)) || die "socket path $sock too long for a unix socket: use a shorter PODVIRT_STATE"
mkdir -p "$ctrd" "$kdir/root" "$kdir/pki" "$kdir/pod-logs" "$cni/net.d" "$cni/networks" "$PODVIRT_STATE/images"

# Host settings the kubelet and the bridge plugin change: record them before
# either runs (restored once the node is Ready, and again by down-node.sh).
if [[ ! -s $PODVIRT_STATE/sysctls.before ]]; then
  if running kubelet; then
    log "warning: kubelet already running and no $PODVIRT_STATE/sysctls.before: not recording sysctls"
  else
    for k in "${SYSCTLS[@]}"; do echo "$k=$(sysctl -n "$k")"; done >"$PODVIRT_STATE/sysctls.before.tmp"
    mv "$PODVIRT_STATE/sysctls.before.tmp" "$PODVIRT_STATE/sysctls.before"
  fi
fi
restore_sysctls() {
  [[ -s $PODVIRT_STATE/sysctls.before ]] || return 0
  local k v
  while IFS='=' read -r k v; do sysctl -qw "$k=$v" || log "warning: could not restore $k=$v"; done <"$PODVIRT_STATE/sysctls.before"
}

# --- containerd ------------------------------------------------------------------
t=$(now)
cat >"$cni/net.d/10-podvirt.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$cni/networks"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
# restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE; without it every
# sandbox fails with "can't get final child's PID from pipe: EOF".
cat >"$ctrd/config.toml" <<EOF
version = 2
root = "$ctrd/root"
state = "$ctrd/state"

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$ctrd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$ctrd/runc"
  # The local registry speaks plain HTTP on loopback: the kubelet pulls
  # podvirt's images from it by digest, as from any registry.
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$PODVIRT_REGISTRY"]
    endpoint = ["http://$PODVIRT_REGISTRY"]
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$cni/net.d"
    max_conf_num = 1
EOF
ctr_() { ctr --address "$sock" -n k8s.io "$@"; }
if running containerd; then
  log "containerd already running"
else
  start_daemon containerd containerd --config "$ctrd/config.toml"
fi
wait_for "containerd (log: $PODVIRT_STATE/logs/containerd.log)" 30 ctr_ version
log "containerd ready in $(since "$t")"

# --- images --------------------------------------------------------------------
t=$(now)
pause_tar=$PODVIRT_STATE/images/pause.tar
if [[ ! -s $pause_tar || $PODVIRT_REPO/test/tools/pause/main.go -nt $pause_tar ||
  $PODVIRT_REPO/test/tools/ocipack/main.go -nt $pause_tar ]]; then
  [[ -d $PODVIRT_REPO/test/tools/ocipack ]] || die "test/tools/ocipack missing: cannot pack the pause image"
  (
    cd "$PODVIRT_REPO"
    CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$PODVIRT_STATE/images/pause" ./test/tools/pause
    go run ./test/tools/ocipack --tag "$PAUSE_IMAGE" --entrypoint /pause \
      --file "$PODVIRT_STATE/images/pause:/pause" --out "$pause_tar.tmp" >&2
  )
  mv "$pause_tar.tmp" "$pause_tar"
  log "pause image built in $(since "$t")"
fi
t=$(now)
for tar in "$pause_tar" "$@"; do
  if ! ctr_ images import "$tar" >/dev/null; then
    [[ $tar == "$pause_tar" ]] && rm -f "$pause_tar" # rebuilt next time
    die "importing $tar failed"
  fi
done
# (grep reads to the end, not -q: ctr writes a line at a time, and a grep
# that exits at the first match can SIGPIPE it, failing the pipeline under
# pipefail although the image is there)
ctr_ images ls -q | grep -x "$PAUSE_IMAGE" >/dev/null || die "$PAUSE_IMAGE not in containerd after import"
log "imported $((1 + $#)) image(s) in $(since "$t")"

# --- kubelet ---------------------------------------------------------------------
t=$(now)
pki_cert kubelet-client "/O=system:nodes/CN=system:node:$PODVIRT_NODE" clientAuth
write_kubeconfig "$kdir/kubeconfig" "system:node:$PODVIRT_NODE" \
  "$PODVIRT_PKI/kubelet-client.crt" "$PODVIRT_PKI/kubelet-client.key"
cat >"$kdir/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $PODVIRT_PKI/ca.crt
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$sock
podLogsDir: $kdir/pod-logs
volumePluginDir: $kdir/volume-plugins
clusterDomain: cluster.local
evictionHard: {}
evictionSoft: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
EOF
if running kubelet; then
  log "kubelet already running"
else
  start_daemon kubelet "$K8S_BIN/kubelet" \
    --config "$kdir/config.yaml" \
    --kubeconfig "$kdir/kubeconfig" \
    --root-dir "$kdir/root" \
    --cert-dir "$kdir/pki" \
    --node-ip "$ip" \
    --hostname-override "$PODVIRT_NODE"
fi
wait_for "node $PODVIRT_NODE to register (log: $PODVIRT_STATE/logs/kubelet.log)" 60 \
  kubectl_ get node "$PODVIRT_NODE"
kubectl_ wait --for=condition=Ready "node/$PODVIRT_NODE" --timeout=120s >/dev/null ||
  die "node $PODVIRT_NODE not Ready (log: $PODVIRT_STATE/logs/kubelet.log)"
log "node $PODVIRT_NODE Ready in $(since "$t")"
restore_sysctls
# The node-lifecycle controller lifts the not-ready NoSchedule taint once it
# sees the node Ready; until then nothing schedules there.
t=$(now)
untainted() {
  local keys
  keys=$(kubectl_ get node "$PODVIRT_NODE" -o jsonpath='{.spec.taints[*].key}') || return 1
  [[ ! $keys =~ node.kubernetes.io/(not-ready|unreachable) ]]
}
wait_for "node $PODVIRT_NODE taints to clear" 60 untainted
log "node $PODVIRT_NODE schedulable in $(since "$t")"
# --- kube-proxy --------------------------------------------------------------------
# iptables mode, as on most clusters: ClusterIPs (the kubernetes Service,
# podvirt's webhook Service) work from Pods and from this host. Conntrack
# limits and localhost NodePorts are left alone: they change host-wide
# settings this shared machine keeps.
t=$(now)
pki_cert kube-proxy "/CN=system:kube-proxy" clientAuth
write_kubeconfig "$PODVIRT_STATE/kube-proxy.kubeconfig" system:kube-proxy \
  "$PODVIRT_PKI/kube-proxy.crt" "$PODVIRT_PKI/kube-proxy.key"
cat >"$PODVIRT_STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $PODVIRT_STATE/kube-proxy.kubeconfig
mode: iptables
hostnameOverride: $PODVIRT_NODE
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
iptables:
  localhostNodePorts: false
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
if running kube-proxy; then
  log "kube-proxy already running"
else
  start_daemon kube-proxy "$K8S_BIN/kube-proxy" --config "$PODVIRT_STATE/kube-proxy.yaml"
fi
wait_for "kube-proxy /healthz (log: $PODVIRT_STATE/logs/kube-proxy.log)" 60 curl -fsS --max-time 2 http://127.0.0.1:10256/healthz
restore_sysctls
log "kube-proxy ready in $(since "$t")"
log "node up in $(since "$t0")"
