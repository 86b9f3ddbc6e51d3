#!/usr/bin/env bash
# Development only: a private, minimal environment for working on the
# admission benchmark without the shared local cluster. etcd and a
# kube-apiserver (the binaries test/local/build-k8s.sh caches) on their
# own ports, state under $BENCH_DEV_STATE (default /tmp/bench-dev/state),
# the CRDs applied, and podvirt-controller (ONE replica) and the no-op
# webhook as local processes registered with url: client configs. All of
# it runs under nice. Figures from it are out-of-cluster development
# figures, not the benchmark's: `make bench-system` is the benchmark.
#
#   dev.sh up                  start everything (idempotent)
#   dev.sh run [loadgen flags] loadgen run against it (results in $BENCH_DEV_STATE/bench)
#   dev.sh report              loadgen report of that run, beside it
#   dev.sh kyverno             start Kyverno out of cluster (test/bench/kyverno.sh)
#   dev.sh down                stop everything it started
#
# BENCH_DEV_BASELINE=<git revision> (for up, run and down) also runs that
# revision's podvirt-controller beside this tree's, with webhook
# configurations of its own (podvirt-baseline-vmi-defaulter and
# -validator): `run` then measures scenarios baseline-0/1/16 too, CPU group
# "baseline", so one run compares the two builds under the same load.
# BENCH_DEV_BASELINE_PATCH=<file> is applied to that revision first (say,
# to give it a later fix that the comparison should not count).
#
# Webhooks are called by url: on 127.0.0.1, and the kube-apiserver speaks
# HTTP/2 to a webhook URL on localhost but HTTP/1.1 to one behind a
# Service (k8s.io/apiserver/pkg/util/webhook): podvirt-controller and the
# no-op webhook serve HTTP/1.1 only by default, as the cluster calls them;
# BENCH_DEV_HTTP2=1 makes both offer h2 too.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PODVIRT_STATE=${BENCH_DEV_STATE:-/tmp/bench-dev/state}
export PODVIRT_APISERVER_PORT=${BENCH_DEV_APISERVER_PORT:-26443}
source "$here/../local/lib.sh"
source "$here/kyverno.sh"

ETCD_PORT=${BENCH_DEV_ETCD_PORT:-22379}
ETCD_PEER_PORT=$((ETCD_PORT + 1))
NOOP_PORT=${BENCH_DEV_NOOP_PORT:-29443}
PODVIRT_PORT=${BENCH_DEV_PODVIRT_PORT:-29444}
PODVIRT_METRICS=${BENCH_DEV_PODVIRT_METRICS:-28080}
PODVIRT_PROBES=$((PODVIRT_METRICS + 1))
# net/http/pprof of podvirt-controller (loopback only): profile with
#   go tool pprof http://127.0.0.1:28082/debug/pprof/profile?seconds=30
PODVIRT_PPROF=$((PODVIRT_METRICS + 2))
KYVERNO_PORT=${BENCH_DEV_KYVERNO_PORT:-29446}
BASELINE=${BENCH_DEV_BASELINE:-}
BASELINE_PATCH=${BENCH_DEV_BASELINE_PATCH:-}
[[ -z $BASELINE_PATCH ]] || BASELINE_PATCH=$(realpath "$BASELINE_PATCH")
HTTP2=()
NOOP_HTTP2=()
if [[ ${BENCH_DEV_HTTP2:-} == 1 ]]; then HTTP2=(--webhook-http2); NOOP_HTTP2=(--http2); fi
BASELINE_PORT=${BENCH_DEV_BASELINE_PORT:-29447}
BASELINE_METRICS=$((PODVIRT_METRICS + 10))
BASELINE_PROBES=$((BASELINE_METRICS + 1))
NICE=(nice -n "${BENCH_DEV_NICE:-10}")
bin=$PODVIRT_STATE/bin
kc=$PODVIRT_STATE/kubeconfig
kubectl_() { "$K8S_BIN/kubectl" --kubeconfig "$kc" "$@"; }

pki() {
  local d=$PODVIRT_PKI
  mkdir -p "$d" && chmod 700 "$d"
  if [[ ! -s $d/ca.crt ]]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$d/ca.key" -subj "/CN=bench-dev-ca" -days 30 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$d/ca.crt" 2>/dev/null
  fi
  pki_cert apiserver "/CN=kube-apiserver" serverAuth "IP:127.0.0.1,DNS:localhost"
  pki_cert admin "/O=system:masters/CN=bench-dev-admin" clientAuth
  pki_cert noop "/CN=noop" serverAuth "IP:127.0.0.1"
  if [[ ! -s $d/sa.key ]]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/sa.key" 2>/dev/null
    openssl pkey -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  fi
  [[ -s $kc ]] || write_kubeconfig "$kc" admin "$d/admin.crt" "$d/admin.key"
}

up() {
  for c in etcd kube-apiserver kubectl; do [[ -x $K8S_BIN/$c ]] || die "$K8S_BIN/$c missing (test/local/build-k8s.sh builds it)"; done
  mkdir -p "$PODVIRT_STATE"/{logs,etcd,bin,audit,certs}
  pki
  if ! running etcd; then
    port_busy "$ETCD_PORT" && die "port $ETCD_PORT is taken"
    start_daemon etcd "${NICE[@]}" "$K8S_BIN/etcd" --name bench-dev --data-dir "$PODVIRT_STATE/etcd" \
      --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
      --initial-cluster "bench-dev=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --log-level warn
  fi
  # The shared environment's audit policy: VMIs and VMIPolicies at Metadata.
  cat >"$PODVIRT_STATE/audit-policy.yaml" <<'AUDIT'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    resources:
      - group: podvirt.io
        resources: [virtualmachineinstances, vmipolicies]
  - level: None
AUDIT
  if ! running kube-apiserver; then
    port_busy "$PODVIRT_APISERVER_PORT" && die "port $PODVIRT_APISERVER_PORT is taken"
    local d=$PODVIRT_PKI
    start_daemon kube-apiserver "${NICE[@]}" "$K8S_BIN/kube-apiserver" \
      --etcd-servers "http://127.0.0.1:$ETCD_PORT" --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
      --endpoint-reconciler-type none --secure-port "$PODVIRT_APISERVER_PORT" \
      --tls-cert-file "$d/apiserver.crt" --tls-private-key-file "$d/apiserver.key" --client-ca-file "$d/ca.crt" \
      --authorization-mode Node,RBAC --service-account-issuer https://kubernetes.default.svc.cluster.local \
      --service-account-key-file "$d/sa.pub" --service-account-signing-key-file "$d/sa.key" \
      --service-cluster-ip-range 10.250.0.0/24 \
      --audit-policy-file "$PODVIRT_STATE/audit-policy.yaml" --audit-log-path "$PODVIRT_STATE/logs/kube-apiserver-audit.log" \
      --audit-log-maxsize 100 --audit-log-maxbackup 1
  fi
  wait_for "kube-apiserver /readyz (log: $PODVIRT_STATE/logs/kube-apiserver.log)" 60 kubectl_ get --raw /readyz
  kubectl_ apply --server-side -k "$PODVIRT_REPO/crds/bases" >/dev/null
  kubectl_ wait --for=condition=Established crd/virtualmachineinstances.podvirt.io crd/vmipolicies.podvirt.io --timeout=60s >/dev/null
  kubectl_ create namespace podvirt-system --dry-run=client -o yaml | kubectl_ apply --server-side -f - >/dev/null
  # podvirt's webhook configurations, each pointed at the local controller.
  sed -E "s#service: \{name: podvirt-webhook, namespace: podvirt-system, path: ([^,]+), port: 443\}#url: https://127.0.0.1:$PODVIRT_PORT\1#" \
    "$PODVIRT_REPO/deploy/base/webhooks.yaml" | kubectl_ apply --server-side --force-conflicts -f - >/dev/null
  kubectl_ apply --server-side --force-conflicts -f "$PODVIRT_REPO/deploy/base/vmi-defaults.yaml" >/dev/null
  if ! running podvirt-controller; then
    (cd "$PODVIRT_REPO" && "${NICE[@]}" env CGO_ENABLED=0 go build -o "$bin/" ./cmd/podvirt-controller ./test/tools/noopwebhook ./test/bench/loadgen)
    start_daemon podvirt-controller "${NICE[@]}" env KUBECONFIG="$kc" "$bin/podvirt-controller" \
      --namespace podvirt-system --webhook-host 127.0.0.1 --webhook-port "$PODVIRT_PORT" --cert-dir "$PODVIRT_STATE/certs" \
      --cert-hosts 127.0.0.1 --audit-dir "$PODVIRT_STATE/audit" --replica bench-dev-0 --domain-type qemu \
      --metrics-bind-address "127.0.0.1:$PODVIRT_METRICS" --health-probe-bind-address "127.0.0.1:$PODVIRT_PROBES" \
      --policy-audit-interval 30s --pprof-addr "127.0.0.1:$PODVIRT_PPROF" "${HTTP2[@]}"
  fi
  wait_for "podvirt-controller /readyz (log: $PODVIRT_STATE/logs/podvirt-controller.log)" 90 curl -sf "http://127.0.0.1:$PODVIRT_PROBES/readyz"
  [[ -z $BASELINE ]] || up_baseline
  kubectl_ apply --server-side -k "$PODVIRT_REPO/deploy/default-policies" >/dev/null
  if ! running noop; then
    start_daemon noop "${NICE[@]}" "$bin/noopwebhook" --listen "127.0.0.1:$NOOP_PORT" \
      --tls-cert-file "$PODVIRT_PKI/noop.crt" --tls-private-key-file "$PODVIRT_PKI/noop.key" "${NOOP_HTTP2[@]}"
  fi
  wait_for "the no-op webhook (log: $PODVIRT_STATE/logs/noop.log)" 30 curl -sf --cacert "$PODVIRT_PKI/ca.crt" "https://127.0.0.1:$NOOP_PORT/healthz"
  log "bench dev environment up: KUBECONFIG=$kc (state $PODVIRT_STATE)"
}

# up_baseline builds $BASELINE's podvirt-controller (from git archive, not
# a worktree) and runs it as "podvirt-baseline" with its own VMI webhook
# configurations, CA Secret, audit directory and ports.
up_baseline() {
  local src=$PODVIRT_STATE/baseline-src rev
  rev=$(git -C "$PODVIRT_REPO" rev-parse --verify "$BASELINE^{commit}")
  [[ -z $BASELINE_PATCH ]] || rev="$rev + $(basename "$BASELINE_PATCH") ($(sha256sum <"$BASELINE_PATCH" | cut -c1-12))"
  if [[ $(cat "$src/.rev" 2>/dev/null) != "$rev" ]]; then
    running podvirt-baseline && die "podvirt-baseline runs another revision: dev.sh down first"
    rm -rf "$src" && mkdir -p "$src"
    git -C "$PODVIRT_REPO" archive "${rev%% *}" | tar -x -C "$src"
    [[ -z $BASELINE_PATCH ]] || (cd "$src" && git apply "$BASELINE_PATCH")
    echo "$rev" >"$src/.rev"
  fi
  awk 'BEGIN{RS="---\n"} /name: podvirt-vmi-(defaulter|validator)\n/ {printf "---\n%s", $0}' "$src/deploy/base/webhooks.yaml" |
    sed -E -e 's/name: podvirt-vmi-(defaulter|validator)$/name: podvirt-baseline-vmi-\1/' \
      -e 's/name: (defaulter|validator)\.vmi\.podvirt\.io$/name: \1.vmi.baseline.podvirt.io/' \
      -e "s#service: \{name: podvirt-webhook, namespace: podvirt-system, path: ([^,]+), port: 443\}#url: https://127.0.0.1:$BASELINE_PORT\1#" |
    kubectl_ apply --server-side --force-conflicts -f - >/dev/null
  if ! running podvirt-baseline; then
    mkdir -p "$bin/baseline" "$PODVIRT_STATE/audit-baseline" "$PODVIRT_STATE/certs-baseline"
    (cd "$src" && "${NICE[@]}" env CGO_ENABLED=0 go build -o "$bin/baseline/" ./cmd/podvirt-controller)
    # PODVIRT_PPROF_ADDR: pprof, for a baseline patched to read it (testdata/baseline-http1-pprof.patch).
    start_daemon podvirt-baseline "${NICE[@]}" env KUBECONFIG="$kc" PODVIRT_PPROF_ADDR="127.0.0.1:$((BASELINE_METRICS + 2))" "$bin/baseline/podvirt-controller" \
      --namespace podvirt-system --webhook-host 127.0.0.1 --webhook-port "$BASELINE_PORT" --cert-dir "$PODVIRT_STATE/certs-baseline" \
      --cert-hosts 127.0.0.1 --ca-secret podvirt-baseline-webhook-ca --mutating-webhook-configuration podvirt-baseline-vmi-defaulter \
      --validating-webhook-configurations podvirt-baseline-vmi-validator \
      --audit-dir "$PODVIRT_STATE/audit-baseline" --replica bench-dev-baseline --domain-type qemu \
      --metrics-bind-address "127.0.0.1:$BASELINE_METRICS" --health-probe-bind-address "127.0.0.1:$BASELINE_PROBES" \
      --policy-audit-interval 30s
  fi
  wait_for "podvirt-baseline /readyz (log: $PODVIRT_STATE/logs/podvirt-baseline.log)" 90 curl -sf "http://127.0.0.1:$BASELINE_PROBES/readyz"
  log "baseline podvirt-controller of $rev up on $BASELINE_PORT"
}

run() {
  mkdir -p "$PODVIRT_STATE/bench"
  local skip=()
  running bench-kyverno || skip=(--skip "kyverno-16=Kyverno not started in this dev run (dev.sh kyverno)")
  local baseline=()
  if [[ -n $BASELINE ]]; then
    running podvirt-baseline || die "BENCH_DEV_BASELINE is set but podvirt-baseline is not running (dev.sh up with it)"
    baseline=(--podvirt-install "baseline=podvirt-baseline-vmi-defaulter,podvirt-baseline-vmi-validator"
      --cpu "baseline=pidfile:$PODVIRT_STATE/pids/podvirt-baseline.pid"
      --note "baseline: podvirt-controller of $(cat "$PODVIRT_STATE/baseline-src/.rev"), beside this tree's (podvirt)")
  fi
  "${NICE[@]}" "$bin/loadgen" run --kubeconfig "$kc" --out "$PODVIRT_STATE/bench/results.jsonl" \
    --state "$PODVIRT_STATE/bench/state.json" --rules "$PODVIRT_REPO/test/bench/testdata/rules-16.tsv" \
    --object "$PODVIRT_REPO/examples/vmi-tiny.yaml" \
    --noop-url "https://127.0.0.1:$NOOP_PORT" --noop-ca "$PODVIRT_PKI/ca.crt" \
    --cpu "apiserver=pidfile:$PODVIRT_STATE/pids/kube-apiserver.pid" \
    --cpu "podvirt=pidfile:$PODVIRT_STATE/pids/podvirt-controller.pid" \
    --cpu "noop=pidfile:$PODVIRT_STATE/pids/noop.pid" \
    --cpu "kyverno=pidfile:$PODVIRT_STATE/pids/bench-kyverno.pid" \
    --environment "DEVELOPMENT, out of cluster (test/bench/dev.sh): etcd + kube-apiserver v1.37.2 only, podvirt-controller as ONE local process, the no-op webhook and Kyverno as local processes, all called by url: on loopback, all under nice; not the benchmark's environment" \
    --commit "$(cd "$PODVIRT_REPO" && git describe --always --dirty)" "${skip[@]}" "${baseline[@]}" "$@"
}

case ${1:-} in
up) up ;;
run) shift; run "$@" ;;
report) "$bin/loadgen" report --in "$PODVIRT_STATE/bench/results.jsonl" --md "$PODVIRT_STATE/bench/report.md" --png "$PODVIRT_STATE/bench/latency.png" ;;
kyverno) KUBECONFIG=$kc kyverno_up "$KYVERNO_PORT" ;;
down)
  KUBECONFIG=$kc kyverno_down || true
  stop_daemons 10 noop podvirt-controller podvirt-baseline
  stop_daemons 15 kube-apiserver
  stop_daemons 10 etcd
  log "bench dev environment down (state kept in $PODVIRT_STATE)"
  ;;
*) sed -n '2,15p' "$0" >&2; exit 2 ;;
esac
