# Shared helpers for the local environment scripts. Source it; do not run it.
# Every script keeps its state under $PODVIRT_STATE (default: <repo>/.podvirt):
# pids in $PODVIRT_STATE/pids/<name>.pid, logs in $PODVIRT_STATE/logs/<name>.log.

PODVIRT_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PODVIRT_STATE="${PODVIRT_STATE:-$PODVIRT_REPO/.podvirt}"
PODVIRT_CACHE="${PODVIRT_CACHE:-$HOME/.cache/podvirt}"
PODVIRT_NODE="${PODVIRT_NODE:-podvirt-node}"
PODVIRT_APISERVER_PORT="${PODVIRT_APISERVER_PORT:-16443}"
PODVIRT_REGISTRY="${PODVIRT_REGISTRY:-127.0.0.1:15000}"
K8S_BIN="$PODVIRT_CACHE/k8s-v1.37.2/bin"
# The podvirt-webhook Service's ClusterIP, pinned by deploy/local: the API
# server calls the node agent authorizer there (it resolves no cluster DNS).
PODVIRT_WEBHOOK_CLUSTER_IP=10.96.0.11
export PODVIRT_STATE PODVIRT_CACHE PODVIRT_NODE K8S_BIN

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# start_daemon NAME CMD...: starts CMD detached in its own session, output to
# its log, pid to its pid file.
start_daemon() {
  local name=$1; shift
  mkdir -p "$PODVIRT_STATE/pids" "$PODVIRT_STATE/logs"
  # No descriptor of the caller's beyond the standard three: a daemon
  # holding, say, a caller's lock file would hold the lock as long as it
  # runs.
  setsid "$@" >>"$PODVIRT_STATE/logs/$name.log" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  echo $! >"$PODVIRT_STATE/pids/$name.pid"
}

# running NAME: true when NAME's pid file names a live process.
running() {
  local f="$PODVIRT_STATE/pids/$1.pid"
  [[ -f $f ]] && pid_alive "$(cat "$f")"
}

# stop_daemon NAME [TIMEOUT]: SIGTERM by pid, SIGKILL after TIMEOUT seconds
# (default 10); see stop_daemons.
stop_daemon() { stop_daemons "${2:-10}" "$1"; }

# wait_for DESCRIPTION TIMEOUT CMD...: retries CMD every 0.2 s until it
# succeeds, or fails after TIMEOUT seconds.
wait_for() {
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out after ${timeout}s waiting for $what"
    sleep 0.2
  done
}

# host_ip: this machine's own non-loopback IPv4 address (the kubelet refuses loopback).
host_ip() { ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1; }

kubectl_() { "$K8S_BIN/kubectl" --kubeconfig "$PODVIRT_STATE/kubeconfig" "$@"; }

# libvirt_uri: the URI of the libvirtd that up-libvirt.sh starts.
libvirt_uri() { printf 'qemu:///system?socket=%s\n' "$PODVIRT_STATE/libvirt/libvirt-sock"; }
virsh_() { virsh -c "$(libvirt_uri)" "$@"; }

# --- PKI and kubeconfig helpers (up-controlplane.sh, up-node.sh) ---
PODVIRT_PKI="$PODVIRT_STATE/pki"

# pki_cert NAME SUBJECT EKU [SAN]: an EC P-256 key and a certificate signed by
# the cluster CA ($PODVIRT_PKI/ca.{crt,key}) in $PODVIRT_PKI/NAME.{crt,key}.
# EKU: serverAuth, clientAuth or both (comma-separated); SAN: openssl syntax,
# e.g. "IP:127.0.0.1,DNS:localhost". Keeps an existing pair.
pki_cert() {
  local name=$1 subj=$2 eku=$3 san=${4:-} d=$PODVIRT_PKI
  [[ -s $d/$name.crt && -s $d/$name.key ]] && return 0
  local ext
  ext=$(mktemp)
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [[ -n $san ]] && echo "subjectAltName=$san"
  } >"$ext"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/$name.key.tmp" 2>/dev/null
  openssl req -new -key "$d/$name.key.tmp" -subj "$subj" -out "$d/$name.csr" 2>/dev/null
  openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 365 -sha256 -extfile "$ext" -out "$d/$name.crt.tmp" 2>/dev/null
  rm -f "$ext" "$d/$name.csr"
  mv "$d/$name.key.tmp" "$d/$name.key"
  mv "$d/$name.crt.tmp" "$d/$name.crt"
}

# write_kubeconfig FILE USER CERT KEY: a kubeconfig for https://127.0.0.1:$PODVIRT_APISERVER_PORT
# trusting the cluster CA, authenticating with the client certificate CERT/KEY.
write_kubeconfig() {
  local file=$1 user=$2 cert=$3 key=$4
  cat >"$file.tmp" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: podvirt
  cluster:
    server: https://127.0.0.1:$PODVIRT_APISERVER_PORT
    certificate-authority-data: $(base64 -w0 <"$PODVIRT_PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$cert")
    client-key-data: $(base64 -w0 <"$key")
contexts:
- name: podvirt
  context: {cluster: podvirt, user: $user}
current-context: podvirt
KUBECONFIG
  chmod 600 "$file.tmp"
  mv "$file.tmp" "$file"
}

# port_busy PORT: true when something listens on TCP PORT.
port_busy() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }

# now: seconds since the epoch, with milliseconds; since T: seconds elapsed since T.
now() { date +%s.%3N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2fs", b - a }'; }

# pid_alive PID: true while PID runs. An exited process that its parent (here
# often PID 1, which reaps late) has not reaped yet counts as gone.
pid_alive() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  [[ ${s%% *} != Z ]]
}

# stop_daemons TIMEOUT NAME...: stops several daemons at once: SIGTERM by pid,
# SIGKILL to those still alive after TIMEOUT seconds; removes their pid files.
stop_daemons() {
  local timeout=$1 name f pid i left
  shift
  local pids=()
  for name; do
    f=$PODVIRT_STATE/pids/$name.pid
    [[ -f $f ]] || continue
    pid=$(cat "$f")
    if pid_alive "$pid"; then kill "$pid" 2>/dev/null || true; pids+=("$pid"); fi
  done
  for ((i = 0; i < timeout * 20; i++)); do
    left=()
    for pid in "${pids[@]}"; do pid_alive "$pid" && left+=("$pid"); done
    ((${#left[@]})) || break
    sleep 0.05
  done
  for pid in "${pids[@]}"; do pid_alive "$pid" && kill -9 "$pid" 2>/dev/null; done
  for name; do rm -f "$PODVIRT_STATE/pids/$name.pid"; done
}
