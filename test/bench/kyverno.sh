# Kyverno out of cluster, for the admission benchmark. Source it after
# test/local/lib.sh; the caller defines kubectl_ (its cluster's kubectl).
#
#   kyverno_build     the binary, built once from the Go module proxy into
#                     $PODVIRT_CACHE/tools (nice -n 19, 7-12 min on 2 cores)
#   kyverno_up PORT   CRDs, namespace and ConfigMaps, then Kyverno on the
#                     host: its webhook server on 127.0.0.1:PORT, which it
#                     registers with url: client configs (--serverIP); its
#                     metrics on PORT+1; admission reports off
#   kyverno_down      stops it and deletes what kyverno_up and Kyverno made
#
# As measured in ../../../shared/notes/admission-bench.md: a lower bound for
# a default install (admission reports off, one replica, no Service hop).

KYVERNO_VERSION=v1.19.1
KYVERNO_BIN=$PODVIRT_CACHE/tools/kyverno-$KYVERNO_VERSION
KYVERNO_CRD_DIRS=(kyverno policies.kyverno.io reports policyreport)

# kyverno_module_dir: the Kyverno module's source in the module cache.
kyverno_module_dir() {
  (cd / && GOFLAGS=-mod=mod go mod download -json "github.com/kyverno/kyverno@$KYVERNO_VERSION") |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

kyverno_build() {
  [[ -x $KYVERNO_BIN ]] && return 0
  local dir
  dir=$(kyverno_module_dir) && [[ -n $dir ]] || { log "cannot download github.com/kyverno/kyverno@$KYVERNO_VERSION"; return 1; }
  log "building Kyverno $KYVERNO_VERSION into $KYVERNO_BIN (once; 7-12 min on 2 cores)"
  mkdir -p "$(dirname "$KYVERNO_BIN")"
  (cd "$dir" && nice -n 19 env CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$KYVERNO_BIN.tmp" ./cmd/kyverno) || return 1
  mv "$KYVERNO_BIN.tmp" "$KYVERNO_BIN"
}

kyverno_up() {
  local port=${1:?port} dir d
  kyverno_build || return 1
  dir=$(kyverno_module_dir)
  for d in "${KYVERNO_CRD_DIRS[@]}"; do
    kubectl_ apply --server-side -f "$dir/config/crds/$d" >/dev/null || return 1
  done
  kubectl_ wait --for=condition=Established crd/validatingpolicies.policies.kyverno.io --timeout=60s >/dev/null || return 1
  kubectl_ create namespace kyverno --dry-run=client -o yaml | kubectl_ apply --server-side -f - >/dev/null
  kubectl_ -n kyverno create configmap kyverno --dry-run=client -o yaml | kubectl_ apply --server-side -f - >/dev/null
  kubectl_ -n kyverno create configmap kyverno-metrics --dry-run=client -o yaml | kubectl_ apply --server-side -f - >/dev/null
  if ! running bench-kyverno; then
    port_busy "$port" && { log "port $port (Kyverno) is taken"; return 1; }
    start_daemon bench-kyverno env KYVERNO_NAMESPACE=kyverno KYVERNO_SERVICEACCOUNT_NAME=kyverno \
      KYVERNO_DEPLOYMENT=kyverno KYVERNO_POD_NAME=kyverno-bench INIT_CONFIG=kyverno METRICS_CONFIG=kyverno-metrics \
      "$KYVERNO_BIN" --kubeconfig "$KUBECONFIG" --serverIP "127.0.0.1:$port" \
      --webhookServerHost 127.0.0.1 --webhookServerPort "$port" \
      --caSecretName kyverno-svc.kyverno.svc.kyverno-tls-ca --tlsSecretName kyverno-svc.kyverno.svc.kyverno-tls-pair \
      --admissionReports=false --metricsHost 127.0.0.1 --metricsPort "$((port + 1))" \
      --controllerRuntimeMetricsAddress 0 --disableLogColor
  fi
  local deadline=$((SECONDS + 180))
  until curl -sk --max-time 2 "https://127.0.0.1:$port/health/readiness" >/dev/null 2>&1; do
    running bench-kyverno || { log "Kyverno exited (log: $PODVIRT_STATE/logs/bench-kyverno.log)"; return 1; }
    ((SECONDS < deadline)) || { log "Kyverno not ready after 180 s (log: $PODVIRT_STATE/logs/bench-kyverno.log)"; return 1; }
    sleep 1
  done
  log "Kyverno $KYVERNO_VERSION ready on 127.0.0.1:$port (pid $(cat "$PODVIRT_STATE/pids/bench-kyverno.pid"))"
}

kyverno_down() {
  local dir d
  stop_daemons 15 bench-kyverno
  kubectl_ delete mutatingwebhookconfigurations,validatingwebhookconfigurations -l webhook.kyverno.io/managed-by=kyverno \
    --ignore-not-found >/dev/null 2>&1 || true
  dir=$(kyverno_module_dir 2>/dev/null) || true
  if [[ -n $dir ]]; then
    for d in "${KYVERNO_CRD_DIRS[@]}"; do
      kubectl_ delete -f "$dir/config/crds/$d" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    done
  fi
  kubectl_ delete namespace kyverno --ignore-not-found --wait=false >/dev/null 2>&1 || true
}
