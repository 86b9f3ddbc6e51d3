#!/usr/bin/env bash
# Builds etcd and the Kubernetes commands the local environment runs, from the
# Go module proxy, into a cache directory keyed by version. Skips the build
# when the cache already holds every binary. Prints the bin directory.
set -euo pipefail

K8S_VERSION=v1.37.2
here="$(cd "$(dirname "$0")" && pwd)"
cache="${PODVIRT_CACHE:-$HOME/.cache/podvirt}"
bin="$cache/k8s-$K8S_VERSION/bin"
cmds=(etcd kube-apiserver kube-scheduler kube-controller-manager kubelet kubectl kube-proxy)

missing=()
for c in "${cmds[@]}"; do [[ -x "$bin/$c" ]] || missing+=("$c"); done
if [[ ${#missing[@]} -eq 0 ]]; then echo "$bin"; exit 0; fi

mkdir -p "$bin"
echo "building ${missing[*]} $K8S_VERSION into $bin (about 10-15 min on an empty Go cache)..." >&2
minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
ldflags=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
start=$SECONDS
cd "$here/k8sbuild"
for c in "${missing[@]}"; do
  t=$SECONDS
  if [[ $c == etcd ]]; then pkg=./etcd; else pkg=k8s.io/kubernetes/cmd/$c; fi
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$bin/$c.tmp" "$pkg"
  mv "$bin/$c.tmp" "$bin/$c"
  echo "  built $c in $((SECONDS - t))s" >&2
done
echo "built in $((SECONDS - start))s" >&2
echo "$bin"
