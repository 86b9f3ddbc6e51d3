# podvirt. `make test` and `make run` install and build what they need.
SHELL := /usr/bin/env bash
CONTROLLER_GEN := go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0
GENERATED := crds/v1alpha1/zz_generated.deepcopy.go crds/bases/podvirt.io_virtualmachineinstances.yaml crds/bases/podvirt.io_vmipolicies.yaml

.PHONY: all generate verify-generated build vet lint unit policy-test e2e attack test run down fuzz bench images

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

## unit: unit tests (no cluster).
unit:
	go test -count=1 ./...

## policy-test: run every library policy against its passing and failing
## examples, offline, as a cluster admin would in CI.
policy-test:
	go run ./cmd/podvirtctl policy test policies/library

## images: OCI image tarballs of the controller, node agent and launcher
## (podvirt.io/<name>:dev) in bin/images, for `ctr images import` or a push.
images:
	@mkdir -p bin/images
	CGO_ENABLED=0 go build -trimpath -o bin/ ./cmd/podvirt-controller ./cmd/podvirt-nodeagent ./cmd/podvirt-launcher
	go run ./test/tools/ocipack --tag podvirt.io/controller:dev --entrypoint /podvirt-controller --file bin/podvirt-controller:/podvirt-controller:0755 --out bin/images/controller.tar
	go run ./test/tools/ocipack --tag podvirt.io/nodeagent:dev --user 0:0 --entrypoint /podvirt-nodeagent --file bin/podvirt-nodeagent:/podvirt-nodeagent:0755 --out bin/images/nodeagent.tar
	go run ./test/tools/ocipack --tag podvirt.io/launcher:dev --entrypoint /podvirt-launcher --file bin/podvirt-launcher:/podvirt-launcher:0755 --out bin/images/launcher.tar

## bench: admission benchmarks (policies, audit log), side by side in one run.
bench:
	go test -run '^$$' -bench . -benchmem -count 3 ./policies/ ./audit/ ./webhooks/...

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

## test: everything CI runs.
test: verify-generated vet lint unit policy-test e2e

## run: bring the local environment up with a running VM, in the background.
run:
	test/local/up.sh

## down: stop everything `make run` started and undo its host changes.
down:
	test/local/down.sh
