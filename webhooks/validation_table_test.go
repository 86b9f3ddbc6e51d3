package webhooks

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/webhooks/vmirules/vmirulestest"
)

// TestInvalidVMITableThroughHandler runs vmirules' table of mistakes
// through the validating handler, as the API server calls it: the single
// parse (policies.DecodeObject + TypedDecoder) must hand Validate the same
// VMI, and every error must come back as a cause naming its field.
func TestInvalidVMITableThroughHandler(t *testing.T) {
	h := &VMIValidator{}
	for _, tc := range vmirulestest.Invalid {
		t.Run(tc.Name, func(t *testing.T) {
			vmi := vmirulestest.Full()
			tc.Mutate(vmi)
			vmi.APIVersion, vmi.Kind = v1alpha1.GroupVersion.String(), "VirtualMachineInstance"
			raw, err := json.Marshal(vmi)
			if err != nil {
				t.Fatal(err)
			}
			resp := h.Handle(context.Background(), request(t, admissionv1.Create, string(raw)))
			if resp.Allowed || resp.Result == nil || resp.Result.Details == nil {
				t.Fatalf("allowed=%v result=%+v, want a denial with causes", resp.Allowed, resp.Result)
			}
			var got []string
			for _, c := range resp.Result.Details.Causes {
				got = append(got, c.Field+": "+c.Message)
			}
			if strings.Join(got, "\n") != strings.Join(tc.Want, "\n") {
				t.Errorf("causes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.Want, "\n  "))
			}
		})
	}
}
