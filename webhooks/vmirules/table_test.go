package vmirules_test

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/webhooks/vmirules"
	"github.com/podvirt/podvirt/webhooks/vmirules/vmirulestest"
)

func TestFullVMIIsValid(t *testing.T) {
	if errs := vmirules.Validate(vmirulestest.Full()); len(errs) != 0 {
		t.Fatalf("valid VMI rejected: %v", errs)
	}
}

// TestInvalidVMITable runs the table of mistakes through Validate and
// reads each error as the API server's client will: as a cause of the
// Invalid status (webhooks' TestInvalidVMITableThroughHandler runs the
// same table through the validating handler).
func TestInvalidVMITable(t *testing.T) {
	if len(vmirulestest.Invalid) < 60 {
		t.Fatalf("the table has %d cases; the issue asks for at least 60", len(vmirulestest.Invalid))
	}
	gk := v1alpha1.GroupVersion.WithKind("VirtualMachineInstance").GroupKind()
	for _, tc := range vmirulestest.Invalid {
		t.Run(tc.Name, func(t *testing.T) {
			vmi := vmirulestest.Full()
			tc.Mutate(vmi)
			errs := vmirules.Validate(vmi)
			if len(errs) == 0 {
				t.Fatal("no errors")
			}
			var got []string
			for _, c := range apierrors.NewInvalid(gk, vmi.Name, errs).ErrStatus.Details.Causes {
				got = append(got, c.Field+": "+c.Message)
			}
			if strings.Join(got, "\n") != strings.Join(tc.Want, "\n") {
				t.Errorf("causes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.Want, "\n  "))
			}
		})
	}
}
