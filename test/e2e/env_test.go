//go:build e2e

package e2e

import (
	"testing"

	"github.com/podvirt/podvirt/test/e2e/framework"
)

// env is the local environment the tests run against; the tests' own
// helpers are methods on it.
type env struct{ *framework.Env }

func newEnv(t *testing.T) *env { return &env{framework.New(t)} }

// noSuchNode is a node label no node carries: a VMI selecting it is
// admitted and rendered, and its launcher Pod is never scheduled.
const noSuchNode = "podvirt.io/no-such-node"
