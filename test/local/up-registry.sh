#!/usr/bin/env bash
# Starts podvirt's local OCI registry (test/tools/registry) on $PODVIRT_REGISTRY
# (loopback, plain HTTP), then builds the tiny guest (build-guest.sh) and
# pushes it as $PODVIRT_REGISTRY/podvirt/tiny-guest:latest with /boot/vmlinuz,
# /boot/vmlinux (the same kernel uncompressed: it boots twice as fast under
# software emulation)
# and /boot/initrd.img. Idempotent: a running registry is left alone, and the
# image is pushed again only when it is missing or the guest files changed.
# Stop with down-registry.sh.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"

image=$PODVIRT_REGISTRY/podvirt/tiny-guest:latest
url=http://$PODVIRT_REGISTRY

if running registry; then
  log "registry already running (pid $(cat "$PODVIRT_STATE/pids/registry.pid"))"
else
  if curl -fsS -o /dev/null --max-time 2 "$url/v2/" 2>/dev/null; then
    die "something that is not our registry already answers on $url"
  fi
  mkdir -p "$PODVIRT_STATE/bin"
  log "building test/tools/registry"
  (cd "$PODVIRT_REPO" && go build -o "$PODVIRT_STATE/bin/registry" ./test/tools/registry)
  start_daemon registry "$PODVIRT_STATE/bin/registry" --addr "$PODVIRT_REGISTRY" --dir "$PODVIRT_STATE/registry"
fi
wait_for "registry on $url" 30 curl -fsS -o /dev/null --max-time 2 "$url/v2/"
running registry || die "registry exited; see $PODVIRT_STATE/logs/registry.log"
log "registry ready on $url"

guest=$("$here/build-guest.sh")

# Push unless the registry already has this exact guest (the stamp records the
# files' checksums; manifests live in the registry's memory, hence the HEAD).
stamp=$PODVIRT_STATE/registry-tiny-guest.pushed
want=$(cd "$guest" && sha256sum vmlinuz vmlinux initrd.img)
accept='application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json'
if [[ -f $stamp && $(cat "$stamp") == "$want" ]] &&
  curl -fsS -o /dev/null -I -H "Accept: $accept" "$url/v2/podvirt/tiny-guest/manifests/latest" 2>/dev/null; then
  log "$image already pushed"
else
  log "pushing $image"
  (cd "$PODVIRT_REPO" && go run ./test/tools/ocipack --tag "$image" \
    --file "$guest/vmlinuz:/boot/vmlinuz" --file "$guest/vmlinux:/boot/vmlinux" --file "$guest/initrd.img:/boot/initrd.img" --push)
  echo "$want" >"$stamp"
  log "pushed $image"
fi
