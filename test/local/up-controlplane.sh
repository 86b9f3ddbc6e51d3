#!/usr/bin/env bash
# Starts a local Kubernetes control plane: etcd, kube-apiserver,
# kube-scheduler and kube-controller-manager, all on 127.0.0.1, state under
# $PODVIRT_STATE. Components already running are left alone. The admin
# kubeconfig is $PODVIRT_STATE/kubeconfig.
#
# Ports: etcd 12379 (client) / 12380 (peer), kube-apiserver
# $PODVIRT_APISERVER_PORT (16443), kube-controller-manager 10257, kube-scheduler
# 10259 (override with PODVIRT_ETCD_PORT, PODVIRT_ETCD_PEER_PORT,
# PODVIRT_KCM_PORT, PODVIRT_SCHEDULER_PORT).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ETCD_PORT=${PODVIRT_ETCD_PORT:-12379}
ETCD_PEER_PORT=${PODVIRT_ETCD_PEER_PORT:-12380}
KCM_PORT=${PODVIRT_KCM_PORT:-10257}
SCHED_PORT=${PODVIRT_SCHEDULER_PORT:-10259}
SERVICE_CIDR=10.96.0.0/24

for c in etcd kube-apiserver kube-scheduler kube-controller-manager kubectl; do
  [[ -x $K8S_BIN/$c ]] || die "$K8S_BIN/$c missing: run test/local/build-k8s.sh first"
done
command -v openssl >/dev/null || die "openssl missing"

t0=$(now)
mkdir -p "$PODVIRT_PKI" "$PODVIRT_STATE/etcd" "$PODVIRT_STATE/logs"
chmod 700 "$PODVIRT_PKI" "$PODVIRT_STATE/etcd"
pki=$PODVIRT_PKI
ip=$(host_ip)
[[ -n $ip ]] || die "no non-loopback IPv4 address found"

# --- PKI ---------------------------------------------------------------------
t=$(now)
if [[ ! -s $pki/ca.crt || ! -s $pki/ca.key ]]; then
  # A new CA invalidates everything signed by the old one.
  rm -f "$pki"/*.crt "$pki"/*.key "$pki"/*.pub "$pki"/*.srl "$PODVIRT_STATE/kubeconfig"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/ca.key.tmp" 2>/dev/null
  openssl req -x509 -new -key "$pki/ca.key.tmp" -subj "/CN=podvirt-ca" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$pki/ca.crt.tmp" 2>/dev/null
  mv "$pki/ca.key.tmp" "$pki/ca.key"
  mv "$pki/ca.crt.tmp" "$pki/ca.crt"
fi
# The serving certificate must name this machine's current address.
if [[ -s $pki/apiserver.crt ]] &&
  ! openssl x509 -in "$pki/apiserver.crt" -noout -checkip "$ip" 2>/dev/null | grep -q 'does match'; then
  rm -f "$pki/apiserver.crt" "$pki/apiserver.key"
fi
pki_cert apiserver "/CN=kube-apiserver" serverAuth \
  "IP:127.0.0.1,DNS:localhost,IP:$ip,IP:${SERVICE_CIDR%0/24}1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
# The admin identity also serves as the API server's kubelet client, so that
# kubectl logs/exec/port-forward pass the kubelet's webhook authorization.
pki_cert admin "/O=system:masters/CN=podvirt-admin" clientAuth
# The API server's client certificate for admission webhooks: podvirt's
# webhooks admit only callers that present it (--admission-client-ca-file).
pki_cert apiserver-admission "/CN=kube-apiserver-admission" clientAuth
admission=$PODVIRT_STATE/admission
mkdir -p "$admission"
cat >"$admission/kubeconfig.tmp" <<ADMISSIONKUBECONFIG
apiVersion: v1
kind: Config
# Users are matched by the webhook's host:port (a URL webhook) or its
# Service's name (<service>.<namespace>.svc:<port>).
users:
- name: "127.0.0.1:${PODVIRT_WEBHOOK_PORT:-19443}"
  user:
    client-certificate: $PODVIRT_PKI/apiserver-admission.crt
    client-key: $PODVIRT_PKI/apiserver-admission.key
- name: "podvirt-webhook.podvirt-system.svc:443"
  user:
    client-certificate: $PODVIRT_PKI/apiserver-admission.crt
    client-key: $PODVIRT_PKI/apiserver-admission.key
ADMISSIONKUBECONFIG
mv "$admission/kubeconfig.tmp" "$admission/kubeconfig"
cat >"$admission/config.yaml" <<ADMISSIONCONFIG
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: ValidatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: $admission/kubeconfig
- name: MutatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: $admission/kubeconfig
ADMISSIONCONFIG
# podvirt's webhook CA, made here because the kube-apiserver must trust it
# when it starts (its node agent authorizer below); install.sh hands it to
# podvirt as the Secret podvirt-system/podvirt-webhook-ca, which the
# controller then uses instead of making its own. A CA of its own, never
# the cluster's.
if [[ ! -s $pki/webhook-ca.crt || ! -s $pki/webhook-ca.key ]]; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/webhook-ca.key.tmp" 2>/dev/null
  openssl req -x509 -new -key "$pki/webhook-ca.key.tmp" -subj "/CN=podvirt-webhook-ca" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$pki/webhook-ca.crt" 2>/dev/null
  mv "$pki/webhook-ca.key.tmp" "$pki/webhook-ca.key"
fi
# Structured authorization: Node, podvirt's node agent authorizer (a node
# agent lists and watches only its own node's Pods: webhooks/nodeauthz),
# RBAC. The webhook is the podvirt-webhook Service at the ClusterIP that
# deploy/local pins (the API server resolves no cluster DNS).
authz=$PODVIRT_STATE/authz
mkdir -p "$authz"
cat >"$authz/kubeconfig" <<AUTHZKUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: podvirt-webhook
  cluster:
    server: https://$PODVIRT_WEBHOOK_CLUSTER_IP:443/authorize-nodeagent-pods
    tls-server-name: podvirt-webhook.podvirt-system.svc
    certificate-authority: $pki/webhook-ca.crt
users:
- name: kube-apiserver
  user:
    client-certificate: $pki/apiserver-admission.crt
    client-key: $pki/apiserver-admission.key
contexts:
- name: podvirt
  context: {cluster: podvirt-webhook, user: kube-apiserver}
current-context: podvirt
AUTHZKUBECONFIG
# deploy/base/authorization-config.example.yaml, with this kubeconfig.
sed "s|kubeConfigFile: .*|kubeConfigFile: $authz/kubeconfig|" "$PODVIRT_REPO/deploy/base/authorization-config.example.yaml" >"$authz/config.yaml"
if [[ ! -s $pki/sa.key || ! -s $pki/sa.pub ]]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key.tmp" 2>/dev/null
  openssl pkey -in "$pki/sa.key.tmp" -pubout -out "$pki/sa.pub" 2>/dev/null
  mv "$pki/sa.key.tmp" "$pki/sa.key"
fi
[[ -s $PODVIRT_STATE/kubeconfig ]] ||
  write_kubeconfig "$PODVIRT_STATE/kubeconfig" podvirt-admin "$pki/admin.crt" "$pki/admin.key"
log "pki ready in $(since "$t")"

# claim_port NAME PORT: fails when PORT is taken by something other than NAME.
claim_port() {
  if port_busy "$2"; then die "port $2 (for $1) is already in use by another process"; fi
}

# --- etcd ----------------------------------------------------------------------
t=$(now)
etcd_healthy() { curl -sf --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }
if running etcd; then
  log "etcd already running"
else
  claim_port etcd "$ETCD_PORT"
  claim_port etcd-peer "$ETCD_PEER_PORT"
  start_daemon etcd "$K8S_BIN/etcd" \
    --name podvirt \
    --data-dir "$PODVIRT_STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "podvirt=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync \
    --log-level warn
fi
wait_for "etcd health (log: $PODVIRT_STATE/logs/etcd.log)" 30 etcd_healthy
log "etcd healthy in $(since "$t")"

# --- kube-apiserver ------------------------------------------------------------
t=$(now)
apiserver_ready() { kubectl_ get --raw /readyz --request-timeout=2s; }
cat >"$PODVIRT_STATE/apiserver-audit-policy.yaml" <<'AUDITPOLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  # podvirt's objects at Metadata level: each event carries the admission
  # annotations (<webhook>/record: the admission's audit record digest).
  - level: Metadata
    resources:
      - group: podvirt.io
        resources: [virtualmachineinstances, vmipolicies]
  # Writes of VMIs' subresources (status) and of Pods (and theirs:
  # status, binding) at Metadata level: who wrote a VMI or a launcher Pod,
  # how often (TestAPIWritesPerVMIStart counts them per VMI start,
  # docs/operations.md).
  - level: Metadata
    verbs: [create, update, patch]
    resources:
      - group: podvirt.io
        resources: [virtualmachineinstances/*]
      - group: ""
        resources: [pods, pods/*]
  - level: None
AUDITPOLICY
if running kube-apiserver; then
  log "kube-apiserver already running"
else
  claim_port kube-apiserver "$PODVIRT_APISERVER_PORT"
  # Bound to every address and advertised at this machine's own one: the
  # endpoint reconciler publishes that as the kubernetes Service's endpoint,
  # which kube-proxy maps 10.96.0.1:443 to, so Pods reach the API as on a
  # real cluster (traffic never leaves this machine). Webhooks are called
  # through their Services' ClusterIPs, also by kube-proxy's rules. The
  # requestheader flags only fill extension-apiserver-authentication (else
  # the scheduler and the controller-manager log "missing content for CA
  # bundle" for a while). The audit log holds the annotations that anchor
  # podvirt's admission audit chains (docs/audit.md).
  start_daemon kube-apiserver "$K8S_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 0.0.0.0 \
    --advertise-address "$ip" \
    --secure-port "$PODVIRT_APISERVER_PORT" \
    --audit-policy-file "$PODVIRT_STATE/apiserver-audit-policy.yaml" \
    --audit-log-path "$PODVIRT_STATE/logs/kube-apiserver-audit.log" \
    --audit-log-maxsize 100 --audit-log-maxbackup 3 \
    --tls-cert-file "$pki/apiserver.crt" \
    --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --authorization-config "$authz/config.yaml" \
    --enable-admission-plugins NodeRestriction \
    --admission-control-config-file "$PODVIRT_STATE/admission/config.yaml" \
    --allow-privileged=true \
    --kubelet-client-certificate "$pki/admin.crt" \
    --kubelet-client-key "$pki/admin.key" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" \
    --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --requestheader-client-ca-file "$pki/ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User \
    --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra-
fi
wait_for "kube-apiserver /readyz (log: $PODVIRT_STATE/logs/kube-apiserver.log)" 60 apiserver_ready
log "kube-apiserver ready in $(since "$t")"

# --- kube-scheduler, kube-controller-manager -------------------------------------
t=$(now)
kc=$PODVIRT_STATE/kubeconfig
if running kube-scheduler; then
  log "kube-scheduler already running"
else
  claim_port kube-scheduler "$SCHED_PORT"
  start_daemon kube-scheduler "$K8S_BIN/kube-scheduler" \
    --kubeconfig "$kc" \
    --authentication-kubeconfig "$kc" \
    --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 \
    --secure-port "$SCHED_PORT" \
    --leader-elect=false
fi
if running kube-controller-manager; then
  log "kube-controller-manager already running"
else
  claim_port kube-controller-manager "$KCM_PORT"
  # All default controllers (garbage collector, namespace, serviceaccount(-token),
  # replicaset, deployment, daemonset, job, endpoint(slice), node-lifecycle, ...).
  start_daemon kube-controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig "$kc" \
    --authentication-kubeconfig "$kc" \
    --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 \
    --secure-port "$KCM_PORT" \
    --leader-elect=false \
    --controllers '*' \
    --cluster-name podvirt \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --service-account-private-key-file "$pki/sa.key" \
    --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" \
    --cluster-signing-key-file "$pki/ca.key" \
    --flex-volume-plugin-dir "$PODVIRT_STATE/flexvolume"
fi
healthy() { curl -skf --max-time 2 "https://127.0.0.1:$1/healthz" | grep -q ok; }
wait_for "kube-scheduler /healthz (log: $PODVIRT_STATE/logs/kube-scheduler.log)" 60 healthy "$SCHED_PORT"
wait_for "kube-controller-manager /healthz (log: $PODVIRT_STATE/logs/kube-controller-manager.log)" 60 healthy "$KCM_PORT"
# Pods can only be created once the namespace's default ServiceAccount exists.
wait_for "serviceaccount default/default" 60 kubectl_ -n default get serviceaccount default
log "kube-scheduler and kube-controller-manager ready in $(since "$t")"
log "control plane up in $(since "$t0"): export KUBECONFIG=$PODVIRT_STATE/kubeconfig"
