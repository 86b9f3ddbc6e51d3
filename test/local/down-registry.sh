#!/usr/bin/env bash
# Stops the registry that up-registry.sh started. Safe when it is not running.
# Blobs stay in $PODVIRT_STATE/registry; manifests (in memory) are gone.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
running registry && log "stopping registry (pid $(cat "$PODVIRT_STATE/pids/registry.pid"))"
stop_daemon registry
rm -f "$PODVIRT_STATE/registry-tiny-guest.pushed"
