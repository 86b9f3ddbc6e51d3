#!/usr/bin/env bash
# make bench-system: issue #16's admission benchmark through the real
# kube-apiserver of the local environment (test/local). Reuses an
# environment that `make run` has up (installing this tree's build of
# podvirt into it first, as e2e.sh does) and leaves it up; otherwise
# brings one up and takes it down afterwards, whatever the result.
#
# Then: builds the load generator and the no-op webhook, runs the no-op
# webhook in the cluster (2 replicas behind a Service, like podvirt's),
# starts Kyverno out of cluster (test/bench/kyverno.sh), and runs
# `loadgen run` over every scenario x C x repetition, then
# `loadgen report`: $BENCH_OUT/report.md, latency.png, results.jsonl.
# Whatever happens, podvirt's webhook rules and VMIPolicies are put back
# (loadgen restore) and what the benchmark made is deleted.
#
# Knobs (defaults meet the issue):
#   BENCH_N=2000 BENCH_WARMUP=50 BENCH_REPS=3 BENCH_C=1,16,64
#   BENCH_SCENARIOS=  (all; e.g. none,noop,podvirt-16)
#   BENCH_OUT=<repo>/bench   BENCH_KYVERNO=1 (0: do not run Kyverno)
# Quick run: BENCH_N=200 BENCH_REPS=1 BENCH_C=1,16 make bench-system
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
loc=$here/../local
source "$loc/lib.sh"
source "$here/kyverno.sh"

N=${BENCH_N:-2000}
WARMUP=${BENCH_WARMUP:-50}
REPS=${BENCH_REPS:-3}
C=${BENCH_C:-1,16,64}
SCENARIOS=${BENCH_SCENARIOS:-}
OUT=${BENCH_OUT:-$PODVIRT_REPO/bench}
RUN_KYVERNO=${BENCH_KYVERNO:-1}
KYVERNO_PORT=${BENCH_KYVERNO_PORT:-19446}
NS=podvirt-bench
work=$PODVIRT_STATE/bench
export KUBECONFIG=$PODVIRT_STATE/kubeconfig

brought_up=false
cleanup() {
  local rc=$?
  set +e
  if [[ -x $work/loadgen && -s $KUBECONFIG ]]; then
    (cd "$PODVIRT_REPO" && "$work/loadgen" restore --kubeconfig "$KUBECONFIG" --state "$work/state.json" --namespace "$NS")
  fi
  kyverno_down
  kubectl_ delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1
  if $brought_up; then "$loc/down.sh"; fi
  exit "$rc"
}
trap cleanup EXIT

if running kube-apiserver && running kubelet && running kube-proxy; then
  log "reusing the environment that is up in $PODVIRT_STATE"
  "$loc/up.sh" --no-example
  "$loc/install.sh"
else
  brought_up=true
  t0=$(now)
  "$loc/up.sh" --no-example
  log "environment up for the benchmark in $(since "$t0")"
fi
K8S_BIN=$("$loc/build-k8s.sh")
mkdir -p "$work" "$OUT"

# --- the load generator and the no-op webhook --------------------------------
log "building the load generator and the no-op webhook"
(cd "$PODVIRT_REPO" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/" ./test/bench/loadgen ./test/tools/noopwebhook)
noop_ref=$(cd "$PODVIRT_REPO" && go run ./test/tools/ocipack --tag "$PODVIRT_REGISTRY/podvirt/bench-noop:dev" \
  --out "$work/noop.tar" --push --entrypoint /noopwebhook --file "$work/noopwebhook:/noopwebhook:0755")
# Its serving certificate, from the cluster CA (its bundle goes into the
# no-op's webhook configurations).
pki_cert bench-noop "/CN=podvirt-bench-noop" serverAuth "DNS:podvirt-bench-noop.$NS.svc"
kubectl_ create namespace "$NS" --dry-run=client -o yaml | kubectl_ apply --server-side -f - >/dev/null
kubectl_ -n "$NS" create secret tls podvirt-bench-noop-tls --cert "$PODVIRT_PKI/bench-noop.crt" --key "$PODVIRT_PKI/bench-noop.key" \
  --dry-run=client -o yaml | kubectl_ apply --server-side -f - >/dev/null
sed "s|@@IMAGE@@|$noop_ref|" "$here/manifests/noop-webhook.yaml" | kubectl_ apply --server-side -f - >/dev/null
kubectl_ -n "$NS" rollout status deployment/podvirt-bench-noop --timeout=180s >/dev/null ||
  die "the no-op webhook is not ready: kubectl -n $NS describe pods"
log "no-op webhook ready ($noop_ref)"

# --- Kyverno, out of cluster ------------------------------------------------------
skip=()
kyverno_scenario=kyverno-$(grep -cv '^\(#\|$\)' "$here/testdata/rules-16.tsv")
if [[ $RUN_KYVERNO != 1 ]]; then
  skip=(--skip "$kyverno_scenario=not run: BENCH_KYVERNO=$RUN_KYVERNO")
elif ! kyverno_up "$KYVERNO_PORT"; then
  reason="Kyverno $KYVERNO_VERSION could not be started out of cluster"
  [[ -s $PODVIRT_STATE/logs/bench-kyverno.log ]] &&
    reason+="; its log ends: $(tail -3 "$PODVIRT_STATE/logs/bench-kyverno.log" | tr -d '\033' | tr '\n' ' ' | cut -c1-400)"
  log "$reason"
  skip=(--skip "$kyverno_scenario=$reason")
fi

# --- the benchmark ------------------------------------------------------------
cd "$PODVIRT_REPO"
"$work/loadgen" run --kubeconfig "$KUBECONFIG" --out "$OUT/results.jsonl" --state "$work/state.json" \
  --namespace "$NS" --rules test/bench/testdata/rules-16.tsv --object examples/vmi-tiny.yaml \
  --n "$N" --warmup "$WARMUP" --reps "$REPS" --c "$C" ${SCENARIOS:+--scenarios "$SCENARIOS"} \
  --noop-service "$NS/podvirt-bench-noop:443" --noop-ca "$PODVIRT_PKI/ca.crt" \
  --cpu "apiserver=pidfile:$PODVIRT_STATE/pids/kube-apiserver.pid" \
  --cpu "podvirt=pod:podvirt-system/app.kubernetes.io/name=podvirt-controller" \
  --cpu "noop=pod:$NS/app.kubernetes.io/name=podvirt-bench-noop" \
  --cpu "kyverno=pidfile:$PODVIRT_STATE/pids/bench-kyverno.pid" \
  "${skip[@]}" \
  --commit "$(git describe --always --dirty 2>/dev/null || echo unknown)" \
  --environment "the local environment (test/local, make run): etcd 3.7.0 (--unsafe-no-fsync) and kube-apiserver v1.37.2 as host processes, a kubelet on containerd, kube-proxy; podvirt installed from deploy/ (podvirt-controller, 2 replicas as Pods, called through Service podvirt-webhook); the no-op webhook likewise (2 replicas as Pods behind Service podvirt-bench-noop); Kyverno out of cluster" \
  --note "podvirt's own VMIPolicies (deploy/default-policies) are deleted for the run and put back after: podvirt-N runs exactly N. In the other scenarios podvirt's VMI webhooks and its MutatingAdmissionPolicy podvirt-vmi-defaults are out of the path (their rules point at a resource that does not exist) and podvirt-controller idles." \
  --note "The kube-apiserver presents its admission client certificate to podvirt's Service, which verifies it; the no-op webhook and Kyverno ask for none." \
  --note "Kyverno $KYVERNO_VERSION runs as one host process on 127.0.0.1:$KYVERNO_PORT (url: client config, no Service hop, admission reports off, built from the module proxy): a lower bound for a default install. It idles, with no policies, through the other scenarios." \
  --note "podvirt writes an admission audit record per create (dry runs included), as in production; the kube-apiserver's audit policy logs VMIs at Metadata level in every scenario." \
  --note "podvirt runs as deploy/local installs it: its serving certificate rotates every minute and each VMIPolicy is audited every 30 s (--serving-cert-validity=1m, --policy-audit-interval=30s)."
"$work/loadgen" report --in "$OUT/results.jsonl" --md "$OUT/report.md" --png "$OUT/latency.png"
log "report: $OUT/report.md"
