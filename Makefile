# podvirt. `make test` and `make run` install and build what they need.
SHELL := /usr/bin/env bash
CONTROLLER_GEN := go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0
GENERATED := crds/v1alpha1/zz_generated.deepcopy.go crds/bases/podvirt.io_virtualmachineinstances.yaml crds/bases/podvirt.io_vmipolicies.yaml crds/bases/podvirt.io_virtualmachines.yaml

.PHONY: all generate verify-generated build vet lint unit policy-test e2e attack test run down fuzz bench bench-go bench-system images mutate plugin

# Tools are built from the Go module proxy into a cache, once per version.
TOOLS := $(HOME)/.cache/podvirt/tools
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION)

all: build

## generate: regenerate deepcopy code and CRD manifests from crds/v1alpha1.
generate:
	$(CONTROLLER_GEN) object paths=./crds/... crd:crdVersions=v1 output:crd:dir=./crds/bases

## verify-generated: fail when the generated files are stale.
verify-generated:
	@before=$$(sha256sum $(GENERATED)); $(MAKE) -s generate; \
	if [[ "$$before" != "$$(sha256sum $(GENERATED))" ]]; then \
	  echo "generated files were stale: 'make generate' rewrote them; commit the result" >&2; git --no-pager diff --stat -- $(GENERATED) >&2; exit 1; fi

build:
	CGO_ENABLED=0 go build ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...
	go vet -tags e2e ./test/e2e/

## lint: golangci-lint with the depguard rules that keep the doors between
## rooms (.golangci.yml).
lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	@mkdir -p $(TOOLS)
	@echo "building golangci-lint $(GOLANGCI_LINT_VERSION) into $(TOOLS) (once)"
	cd $(TOOLS) && GOBIN=$(TOOLS)/.bin go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION) && mv $(TOOLS)/.bin/golangci-lint $@

## plugin: bin/podvirtctl and bin/kubectl-podvirt, a link to it that kubectl
## runs as `kubectl podvirt` once bin is on the PATH (docs/cli.md).
plugin:
	mkdir -p bin
	go build -o bin/podvirtctl ./cmd/podvirtctl
	ln -sf podvirtctl bin/kubectl-podvirt
	@echo "kubectl plugin: export PATH=$(CURDIR)/bin:\$$PATH, then kubectl podvirt --help"

## unit: unit tests (no cluster).
unit:
	go test -count=1 ./...

## policy-test: run every library policy against its passing and failing
## examples, offline, as a cluster admin would in CI.
policy-test:
	go run ./cmd/podvirtctl policy test policies/library

## images: OCI image tarballs of the controller, node agent and launcher
## (podvirt.io/<name>:dev) in bin/images, built without a container engine
## (test/local/images.sh; `make run` also pushes them to its registry).
images:
	test/local/images.sh bin/images

## bench: every benchmark: the in-process ones (bench-go), then the
## admission benchmark through the real kube-apiserver (bench-system).
bench: bench-go bench-system

## bench-go: in-process admission benchmarks (policies, audit log,
## handlers), side by side in one run; no cluster.
bench-go:
	go test -run '^$$' -bench . -benchmem -count 3 ./policies/ ./audit/ ./webhooks/...

## bench-system: issue #16's benchmark: dry-run VMI creates through the
## local environment's kube-apiserver (reused if `make run` has it up,
## else brought up and down), with no webhooks, a no-op webhook, podvirt
## with 0/1/16 VMIPolicies, 16 native VAPs and Kyverno; writes
## bench/report.md and bench/latency.png. Quick run:
## BENCH_N=200 BENCH_REPS=1 BENCH_C=1,16 make bench-system (test/bench/README.md).
bench-system:
	test/bench/bench-system.sh

## e2e: end-to-end tests against the local environment (brought up and torn
## down around the tests unless `make run` already has it up).
e2e:
	test/local/e2e.sh

## attack: only the attack suite (test/e2e/attack_test.go and the other
## security tests), each attack acting as its attacker and logging what it
## tried and what stopped it. The suite also runs in every `make e2e`.
attack:
	E2E_RUN='^(TestAttack|TestLauncherPodGuard|TestNodeAgentRestriction|TestSignature|TestNodeAllowlist|TestCraftedValues)' test/local/e2e.sh

## fuzz: run every fuzz target for FUZZTIME each (the seed corpora in
## testdata/fuzz run in every `make unit`).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$(go list ./...); do \
	  for f in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

## mutate: mutation testing with gremlins, one package directory of
## MUTATE_PKGS at a time (its subpackages included; a trailing /... is
## dropped). Each mutant is a one-token change (a boundary, a negated
## condition, an operator, ++/--, a sign) that the package's own tests must
## catch. It runs on a copy of the tracked and untracked-but-not-ignored
## files, so the tree and its build artefacts stay untouched, and fails
## when a package's efficacy, killed / (killed + lived), is below
## MUTATE_THRESHOLD percent. Results: bin/mutate/<package>.json. Slow (a
## test build per mutant) and not part of `make test`; on a shared machine
## keep MUTATE_WORKERS low. Example: make mutate MUTATE_PKGS=./audit
GREMLINS_VERSION ?= v0.6.0
GREMLINS ?= go run github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)
MUTATE_PKGS ?= ./policies ./nodeagent/allowlist
MUTATE_WORKERS ?= 1
# A mutant's tests time out after this many times the package's coverage
# run (an uncached `go test`), which also ends mutants that loop forever.
MUTATE_TIMEOUT_COEFFICIENT ?= 10
# For every go test gremlins runs: no cached results (the coverage run's
# time sets the timeout), no vet (only tests kill mutants), no debug info
# (faster links).
MUTATE_GOFLAGS ?= -count=1 -vet=off -ldflags=-s
MUTATE_THRESHOLD ?= 85
# More gremlins flags, e.g. --dry-run, or -E 'size.*\.go' to leave files out.
MUTATE_FLAGS ?=
mutate:
	@set -o pipefail; mkdir -p bin/mutate; out=$$(pwd)/bin/mutate; failed=; \
	src=$$(mktemp -d); trap 'rm -rf "$$src"' EXIT; \
	git ls-files -z --cached --others --exclude-standard | \
	  tar --null --ignore-failed-read --warning=no-failed-read -c -T - -f - | tar -x -C "$$src"; \
	for pkg in $(MUTATE_PKGS); do \
	  dir=$${pkg%/...}; dir=./$${dir#./}; name=$$(echo "$${dir#./}" | tr / _); \
	  echo "== gremlins $$dir (results in bin/mutate/$$name.json)"; \
	  (cd "$$src" && GOFLAGS="$$GOFLAGS $(MUTATE_GOFLAGS)" nice $(GREMLINS) unleash --workers $(MUTATE_WORKERS) \
	    --timeout-coefficient $(MUTATE_TIMEOUT_COEFFICIENT) --threshold-efficacy $(MUTATE_THRESHOLD) \
	    $(MUTATE_FLAGS) --output "$$out/$$name.json" "$$dir") || failed="$$failed $$dir"; \
	done; \
	if [[ -n "$$failed" ]]; then echo "mutate: efficacy below $(MUTATE_THRESHOLD)% (or gremlins failed) in:$$failed" >&2; exit 1; fi

## test: everything CI runs.
test: verify-generated vet lint unit policy-test e2e

## run: bring the local environment up with a running VM, in the background.
run:
	test/local/up.sh

## down: stop everything `make run` started and undo its host changes.
down:
	test/local/down.sh
