// Package audit is the old import path of the admission audit log, kept
// only so that test/e2e (owned by another change in flight) builds until
// it imports github.com/podvirt/podvirt/audit. It forwards the four names
// test/e2e uses and nothing else.
//
// Deprecated: import github.com/podvirt/podvirt/audit. Delete this package
// once nothing imports it (go list -deps ./... -tags e2e).
package audit

import (
	"context"
	"iter"

	"github.com/podvirt/podvirt/audit"
)

// Filter is audit.Filter.
type Filter = audit.Filter

// Names used by test/e2e.
const (
	WebhookValidateVMI = audit.WebhookValidateVMI
	DecisionAllowed    = audit.DecisionAllowed
)

// Read is audit.Read.
func Read(ctx context.Context, dir string, f Filter) iter.Seq2[audit.Record, error] {
	return audit.Read(ctx, dir, f)
}
