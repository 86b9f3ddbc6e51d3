package audit_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/podvirt/podvirt/audit"
)

// A webhook handler records its decision before answering, and returns the
// record's audit annotations with the response.
func Example() {
	dir, err := os.MkdirTemp("", "audit-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	w, err := audit.Open(ctx, audit.Options{
		Dir:     dir,
		Replica: "podvirt-controller-5c7d-abcde", // the Pod name
		Now:     func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		panic(err)
	}

	// In a handler: rec := audit.RecordFor(audit.WebhookValidateVMI, &req.AdmissionRequest)
	rec := audit.Record{
		Webhook: audit.WebhookValidateVMI, UID: "0b3c9a4e-1f2d-4c5b-9a8e-7d6c5b4a3f2e",
		User: "alice", Groups: []string{"system:authenticated"},
		Operation: "CREATE", Kind: "VirtualMachineInstance", Namespace: "team-a", Name: "web-1",
		Decision: audit.ClassifyDecision(false, false, false),
		Message:  "VMIPolicy deny-host-disk: hostDisk volumes are not allowed",
		Policies: []audit.PolicyResult{
			{Name: "deny-host-disk", Action: "Deny", Result: audit.PolicyFail, Message: "hostDisk volumes are not allowed"},
		},
		LatencyMicros: audit.Latency(850 * time.Microsecond),
	}
	sealed, err := w.Append(ctx, rec) // returns once the line is fsync'd
	if err != nil {
		panic(err) // a handler denies instead: no record, no admission
	}
	ann := audit.AuditAnnotations(sealed)
	fmt.Println("decision:", ann[audit.AnnotationDecision])
	fmt.Println("record:", ann[audit.AnnotationRecord])
	if err := w.Close(); err != nil {
		panic(err)
	}

	line, _ := os.ReadFile(filepath.Join(dir, audit.FileName("podvirt-controller-5c7d-abcde", 1)))
	fmt.Print(string(line))

	sum, err := audit.VerifyChain(ctx, dir, "podvirt-controller-5c7d-abcde")
	fmt.Println("verified:", sum.Records, "record(s), head", sum.Head[:12], err)

	for rec, err := range audit.Read(ctx, dir, audit.Filter{Decisions: []audit.Decision{audit.DecisionDenied}}) {
		if err == nil {
			fmt.Println("denied:", rec.Namespace+"/"+rec.Name, "by", rec.Policies[0].Name)
		}
	}
	// Output:
	// decision: denied
	// record: podvirt-controller-5c7d-abcde:1:d53630e6e5d284772747255d5c462cace1003c03f18b3bcac38e935ad9bdbc0c
	// {"v":1,"seq":1,"time":"2026-03-01T12:00:00Z","replica":"podvirt-controller-5c7d-abcde","webhook":"validate-vmi","uid":"0b3c9a4e-1f2d-4c5b-9a8e-7d6c5b4a3f2e","user":"alice","groups":["system:authenticated"],"operation":"CREATE","kind":"VirtualMachineInstance","namespace":"team-a","name":"web-1","dryRun":false,"decision":"denied","message":"VMIPolicy deny-host-disk: hostDisk volumes are not allowed","policies":[{"name":"deny-host-disk","action":"Deny","result":"fail","message":"hostDisk volumes are not allowed"}],"latencyUs":850,"prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":"d53630e6e5d284772747255d5c462cace1003c03f18b3bcac38e935ad9bdbc0c"}
	// verified: 1 record(s), head d53630e6e5d2 <nil>
	// denied: team-a/web-1 by deny-host-disk
}
