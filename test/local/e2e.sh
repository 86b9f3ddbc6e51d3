#!/usr/bin/env bash
# Runs the end-to-end tests (test/e2e) against the local environment. Reuses
# an environment that `make run` already has up (installing this tree's
# build of podvirt into it first) and leaves it up; otherwise brings one up
# and tears it down afterwards, whatever the result.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"

if running kube-apiserver && running kubelet && running kube-proxy; then
  log "reusing the environment that is up in $PODVIRT_STATE"
  "$here/up.sh" --no-example
  "$here/install.sh"
else
  trap '"$here/down.sh" || true' EXIT
  t0=$(now)
  "$here/up.sh" --no-example
  log "environment up for e2e in $(since "$t0")"
fi
cd "$PODVIRT_REPO"
# E2E_RUN narrows the run to the tests it matches (make attack).
# One package (the framework and builder have their own unit tests in make
# unit), so go test streams each test's output as it runs.
go test -tags e2e -count=1 -timeout 30m -v ${E2E_RUN:+-run "$E2E_RUN"} ./test/e2e/ 2>&1 | tee "$PODVIRT_STATE/logs/e2e.log"
exit "${PIPESTATUS[0]}"
