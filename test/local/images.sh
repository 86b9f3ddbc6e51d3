#!/usr/bin/env bash
# Builds podvirt's images without a container engine: static Go binaries
# packed by test/tools/ocipack into single-layer OCI images.
#
#   images.sh OUT_DIR            tarballs in OUT_DIR (make images)
#   images.sh OUT_DIR --push     the same, also pushed to $PODVIRT_REGISTRY;
#                                prints NAME=REF@DIGEST lines (up.sh keeps
#                                them in $PODVIRT_STATE/images.env)
#
# Images: controller (podvirt-controller, and podvirtctl for `kubectl exec
# ... -- /podvirtctl audit verify`), nodeagent, launcher; with --push also
# the local environment's storage provisioner (rancher/local-path-provisioner
# built from the module proxy) and its helper (Debian's busybox-static).
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"

out=${1:?usage: images.sh OUT_DIR [--push]}
push=false
[[ ${2:-} == --push ]] && push=true
mkdir -p "$out/bin"
LPP_VERSION=v0.0.30

log "building podvirt binaries"
(cd "$PODVIRT_REPO" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$out/bin/" \
  ./cmd/podvirt-controller ./cmd/podvirt-nodeagent ./cmd/podvirt-launcher ./cmd/podvirtctl)

# $PODVIRT_BUILD_ID (default: the commit and a dirty mark) goes into every
# image as /etc/podvirt-build: two builds told apart by it have different
# digests, as a real upgrade's images do.
build_id=${PODVIRT_BUILD_ID:-$(cd "$PODVIRT_REPO" && git describe --always --dirty 2>/dev/null || echo dev)}
echo "$build_id" >"$out/build-id"
stamp=(--file "$out/build-id:/etc/podvirt-build:0644")
ocipack() { (cd "$PODVIRT_REPO" && go run ./test/tools/ocipack "$@"); }
# pack NAME REPO ARGS...: one image, as a tarball and (with --push) in the
# registry; prints NAME=REF@DIGEST when pushed.
pack() {
  local name=$1 repo=$2 ref
  shift 2
  if $push; then
    ref=$(ocipack --tag "$PODVIRT_REGISTRY/$repo:dev" --out "$out/$name.tar" --push "$@")
    echo "$name=$ref"
  else
    ocipack --tag "podvirt.io/$name:dev" --out "$out/$name.tar" "$@" >/dev/null
  fi
}

pack controller podvirt/controller "${stamp[@]}" --entrypoint /podvirt-controller \
  --file "$out/bin/podvirt-controller:/podvirt-controller:0755" --file "$out/bin/podvirtctl:/podvirtctl:0755"
# The node agent runs as root: it plumbs links and moves QEMU between cgroups.
pack nodeagent podvirt/nodeagent "${stamp[@]}" --user 0:0 --entrypoint /podvirt-nodeagent \
  --file "$out/bin/podvirt-nodeagent:/podvirt-nodeagent:0755"
pack launcher podvirt/launcher "${stamp[@]}" --entrypoint /podvirt-launcher \
  --file "$out/bin/podvirt-launcher:/podvirt-launcher:0755"

$push || exit 0

# --- the local environment's dynamic volume provisioner ------------------------
lpp=$PODVIRT_CACHE/tools/local-path-provisioner-$LPP_VERSION
if [[ ! -x $lpp ]]; then
  log "building local-path-provisioner $LPP_VERSION into $PODVIRT_CACHE/tools (once)"
  mkdir -p "$PODVIRT_CACHE/tools/.bin"
  (cd "$PODVIRT_CACHE/tools" && CGO_ENABLED=0 GOBIN=$PODVIRT_CACHE/tools/.bin \
    go install -trimpath -ldflags '-s -w' "github.com/rancher/local-path-provisioner@$LPP_VERSION")
  mv "$PODVIRT_CACHE/tools/.bin/local-path-provisioner" "$lpp"
fi
pack local-path-provisioner podvirt/local-path-provisioner --user 0:0 \
  --entrypoint /local-path-provisioner --file "$lpp:/local-path-provisioner:0755"
# The provisioner's helper Pods run `sh /script/setup` (mkdir) and
# `sh /script/teardown` (rm -rf) on the node.
busybox=$(command -v busybox) || die "busybox missing (apt-get install busybox-static)"
pack local-path-helper podvirt/local-path-helper --user 0:0 --file "$busybox:/bin/busybox:0755" \
  --link /bin/sh:busybox --link /bin/mkdir:busybox --link /bin/rm:busybox --link /bin/chmod:busybox
