#!/usr/bin/env bash
# Stops the node started by up-node.sh and undoes what it did to the host:
# kubelet, then every container of this node's containerd, containerd and its
# shims; unmounts everything under $PODVIRT_STATE (and the Pods' network
# namespaces); deletes the bridge, the CNI state, the KUBE-*/CNI-* iptables
# chains and the kubepods cgroups; restores the recorded sysctls; deletes the
# node's runtime state (images are re-imported by up-node.sh) and, when the API
# server answers, the Node object. Safe to run when nothing is up, and twice.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BRIDGE=${PODVIRT_BRIDGE:-podvirt0}
CNI_NETWORK=podvirt-local
ctrd=$PODVIRT_STATE/containerd
sock=$ctrd/containerd.sock
kdir=$PODVIRT_STATE/kubelet
cni=$PODVIRT_STATE/cni
t0=$(now)

# --- kubelet -----------------------------------------------------------------------
stop_daemons 15 kube-proxy kubelet

# --- containers, containerd, shims ---------------------------------------------
# This node's shims are the containerd-shim processes whose -address is our socket;
# the containers are their descendants.
our_shims() {
  local p cmd
  for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    [[ $cmd == *containerd-shim* && $cmd == *" -address $sock "* ]] && echo "${p#/proc/}"
  done
  return 0
}
descendants() { # descendants PID...: every descendant of the given pids
  ps -e -o pid=,ppid= | awk -v roots="$*" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) want[r[i]] = 1 }
    { parent[$1] = $2; pids[NR] = $1 }
    END {
      do { added = 0
        for (i in pids) { p = pids[i]; if (!(p in want) && (parent[p] in want)) { want[p] = 1; found[p] = 1; added = 1 } }
      } while (added)
      for (p in found) print p
    }'
}
shims=$(our_shims)
netns_inodes=""
if [[ -n $shims ]]; then
  procs=$(descendants $shims)
  for p in $procs; do
    netns_inodes+=" $(stat -L -c %i "/proc/$p/ns/net" 2>/dev/null || true)"
  done
  if [[ -n $procs ]]; then
    log "killing $(wc -w <<<"$procs") container process(es)"
    kill -9 $procs 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      alive=0
      for p in $procs; do pid_alive "$p" && alive=1; done
      ((alive)) || break
      sleep 0.1
    done
  fi
fi
stop_daemons 10 containerd
shims=$(our_shims)
if [[ -n $shims ]]; then
  kill $shims 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do
    alive=0
    for p in $shims; do pid_alive "$p" && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  shims=$(for p in $shims; do if pid_alive "$p"; then echo "$p"; fi; done)
  [[ -n $shims ]] && { kill -9 $shims 2>/dev/null || true; sleep 0.2; }
fi

# --- Pod network namespaces (containerd keeps them under /run/netns) -------------
netns_paths=""
if [[ -f $ctrd/root/io.containerd.metadata.v1.bolt/meta.db ]]; then
  netns_paths=$(grep -ao '/var/run/netns/cni-[0-9a-f-]*' "$ctrd/root/io.containerd.metadata.v1.bolt/meta.db" | sort -u || true)
fi
for f in /run/netns/cni-*; do
  [[ -e $f ]] || continue
  ino=$(stat -L -c %i "$f" 2>/dev/null) || continue
  [[ " $netns_inodes " == *" $ino "* ]] && netns_paths+=$'\n'"$f"
done
for f in $(sed 's|^/var/run/|/run/|' <<<"$netns_paths" | sort -u); do
  [[ -e $f ]] || continue
  umount "$f" 2>/dev/null || umount -l "$f" 2>/dev/null || true
  rm -f "$f"
done
rmdir /run/netns 2>/dev/null || true

# --- mounts under $PODVIRT_STATE, deepest first --------------------------------------
mounts_under() { # mount points at or below $1, deepest first
  awk '{print $5}' /proc/self/mountinfo | while IFS= read -r m; do printf '%b\n' "$m"; done |
    awk -v d="$1" '$0 == d || index($0, d "/") == 1 { print length($0) "\t" $0 }' | sort -rn | cut -f2-
}
state_real=$(realpath -m "$PODVIRT_STATE")
for ((round = 0; round < 5; round++)); do
  ms=$(mounts_under "$state_real")
  [[ -z $ms ]] && break
  while IFS= read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done <<<"$ms"
done
left=$(mounts_under "$state_real")
[[ -z $left ]] || log "warning: mounts left under $PODVIRT_STATE: $(tr '\n' ' ' <<<"$left")"

# --- bridge, CNI state, iptables --------------------------------------------------
if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link delete "$BRIDGE"; fi
# libcni caches each attachment's result in /var/lib/cni/results: ours are
# $CNI_NETWORK-<sandbox>-eth0 and cni-loopback-<sandbox>-lo.
sandboxes=$(ls "$ctrd/state/io.containerd.grpc.v1.cri/sandboxes" 2>/dev/null || true)
for f in /var/lib/cni/results/"$CNI_NETWORK"-*-eth0; do
  [[ -e $f ]] || continue
  id=${f#/var/lib/cni/results/"$CNI_NETWORK"-}
  sandboxes+=$'\n'"${id%-eth0}"
  rm -f "$f"
done
for id in $sandboxes; do rm -f "/var/lib/cni/results/cni-loopback-$id-lo"; done
rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null || true
rm -rf "$cni/networks"

# ipt_clean IPTABLES: removes the KUBE-* and CNI-* chains of every table, after
# deleting the built-in chains' rules that jump to them.
ipt_clean() {
  local ipt=$1 table rules line chain
  command -v "$ipt" >/dev/null || return 0
  for table in filter nat mangle raw; do
    rules=$("$ipt" -w 5 -t "$table" -S 2>/dev/null) || continue
    while IFS= read -r line; do
      [[ -n $line ]] || continue
      eval "set -- $line"
      "$ipt" -w 5 -t "$table" -D "${@:2}" 2>/dev/null || true
    done < <(grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-[jg] (KUBE-|CNI-)' <<<"$rules" || true)
    local chains
    chains=$(awk '$1 == "-N" && $2 ~ /^(KUBE-|CNI-)/ { print $2 }' <<<"$rules")
    for chain in $chains; do "$ipt" -w 5 -t "$table" -F "$chain" 2>/dev/null || true; done
    for chain in $chains; do "$ipt" -w 5 -t "$table" -X "$chain" 2>/dev/null || log "warning: $ipt -t $table -X $chain failed"; done
  done
}
ipt_clean iptables
ipt_clean ip6tables

# --- sysctls ---------------------------------------------------------------------------
if [[ -s $PODVIRT_STATE/sysctls.before ]]; then
  while IFS='=' read -r k v; do sysctl -qw "$k=$v" || log "warning: could not restore $k=$v"; done <"$PODVIRT_STATE/sysctls.before"
  rm -f "$PODVIRT_STATE/sysctls.before"
fi

# --- kubepods cgroups (cgroup v1: one tree per hierarchy), deepest first --------------
other_kubelet=$(for p in $(pgrep -x kubelet || true); do if pid_alive "$p"; then echo "$p"; fi; done)
if [[ -n $other_kubelet ]]; then
  log "warning: another kubelet is running: leaving the kubepods cgroups alone"
else
  for ((i = 0; i < 25; i++)); do
    dirs=$(find /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods -depth -type d 2>/dev/null || true)
    [[ -z $dirs ]] && break
    while IFS= read -r d; do rmdir "$d" 2>/dev/null || true; done <<<"$dirs"
    sleep 0.2
  done
  [[ -z $dirs ]] || log "warning: kubepods cgroups left (processes still in them?): $(head -3 <<<"$dirs" | tr '\n' ' ')"
fi

# --- what the kubelet and containerd leave at fixed host paths ----------------------
# The kubelet links each container log into /var/log/containers and keeps its
# device-plugin socket in /var/lib/kubelet/device-plugins; containerd 1.6 keeps
# shim sockets under /run/containerd/s. Remove ours, then the directories if empty.
for f in /var/log/containers/*.log; do
  [[ -L $f && $(readlink "$f") == "$PODVIRT_STATE"/* ]] && rm -f "$f"
done
if [[ -z $other_kubelet ]]; then
  rm -f /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint
fi
rmdir /var/log/containers /var/lib/kubelet/device-plugins /var/lib/kubelet \
  /run/containerd/s /run/containerd/runc/k8s.io /run/containerd/runc /run/containerd 2>/dev/null || true

# --- runtime state ---------------------------------------------------------------------
if [[ -z $left ]]; then
  rm -rf --one-file-system "$ctrd" "$kdir" "$cni"
else
  log "warning: keeping $ctrd, $kdir and $cni because mounts remain under them"
fi

# --- the Node object ----------------------------------------------------------------------
if [[ -s $PODVIRT_STATE/kubeconfig && -x $K8S_BIN/kubectl ]] &&
  kubectl_ get --raw /readyz --request-timeout=2s >/dev/null 2>&1; then
  kubectl_ delete node "$PODVIRT_NODE" --ignore-not-found --wait=false --request-timeout=5s >/dev/null || true
fi
log "node down in $(since "$t0")"
