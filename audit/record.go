package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// SchemaVersion is the record schema this package writes and reads, carried
// in every line as "v".
const SchemaVersion = 1

// GenesisHash is the "prev" of a chain's first record.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// MaxLineBytes bounds one line, newline excluded. The Writer refuses larger
// records and readers report larger lines as unparsable instead of buffering
// them.
const MaxLineBytes = 1 << 20

// hashSuffixPrefix starts the member every line ends with:
// `,"hash":"<64 lowercase hex digits>"}`.
const hashSuffixPrefix = `,"hash":"`

// hashSuffixLen is the length of `,"hash":"` + 64 hex digits + `"}`.
const hashSuffixLen = len(hashSuffixPrefix) + sha256.Size*2 + len(`"}`)

// Decision is the outcome of one admission request as a webhook answered it.
type Decision string

// The decisions of schema v1. When several apply, the first in this order
// wins (see ClassifyDecision): a denial that also warns is "denied", a patch
// that also warns is "warned".
const (
	DecisionDenied  Decision = "denied"
	DecisionWarned  Decision = "warned"
	DecisionMutated Decision = "mutated"
	DecisionAllowed Decision = "allowed"
)

// Decisions lists every valid Decision.
func Decisions() []Decision {
	return []Decision{DecisionAllowed, DecisionDenied, DecisionWarned, DecisionMutated}
}

// Valid reports whether d is one of the decisions of schema v1.
func (d Decision) Valid() bool {
	switch d {
	case DecisionAllowed, DecisionDenied, DecisionWarned, DecisionMutated:
		return true
	}
	return false
}

// PolicyOutcome is what one policy (or built-in check) concluded.
type PolicyOutcome string

// Policy outcomes.
const (
	// PolicyPass: every validation of the policy held.
	PolicyPass PolicyOutcome = "pass"
	// PolicyFail: a validation did not hold; Action says what that caused.
	PolicyFail PolicyOutcome = "fail"
	// PolicyError: the policy could not be evaluated (compile or runtime
	// error, cost limit); its failurePolicy decided.
	PolicyError PolicyOutcome = "error"
)

// PolicyResult is one policy's part in a decision.
type PolicyResult struct {
	// Name is the VMIPolicy's name, or "podvirt.io/<check>" for a built-in
	// check such as the VMI's semantic validation.
	Name string `json:"name"`
	// Action is the policy's validationActions joined by "," in the order
	// the policy lists them, e.g. "Deny" or "Warn,Audit".
	Action string `json:"action"`
	// Result is what the policy concluded.
	Result PolicyOutcome `json:"result"`
	// Message is the failing validation's message, or the evaluation error.
	Message string `json:"message,omitempty"`
}

// PatchSummary describes a mutating webhook's JSON patch without its values:
// values can hold anything the user wrote (cloud-init user data included), so
// the audit log records only where the patch wrote.
type PatchSummary struct {
	// Ops is the number of operations in the patch.
	Ops int `json:"ops"`
	// Paths holds "<op> <JSON pointer>" for the first MaxPatchPaths
	// operations, e.g. "add /spec/domain/machine". Ops > len(Paths) means
	// the list was cut.
	Paths []string `json:"paths,omitempty"`
}

// Record is one line of the audit log, schema v1. The JSON member order
// below is the order lines carry; "hash" is always last.
type Record struct {
	// Version is the schema version, SchemaVersion.
	Version int `json:"v"`
	// Seq numbers the replica's records from 1, continuing across files.
	Seq uint64 `json:"seq"`
	// Time is when the Writer sealed the record (UTC), unless the caller set
	// it.
	Time time.Time `json:"time"`
	// Replica is the writing replica (its Pod name); it names the chain.
	Replica string `json:"replica"`
	// Webhook names the webhook that decided, e.g. WebhookValidateVMI.
	Webhook string `json:"webhook"`
	// UID is the AdmissionRequest's UID.
	UID string `json:"uid"`
	// User and Groups are the requesting user's name and groups.
	User   string   `json:"user"`
	Groups []string `json:"groups,omitempty"`
	// Operation is CREATE, UPDATE, DELETE or CONNECT.
	Operation string `json:"operation"`
	// Kind is the object's kind, e.g. VirtualMachineInstance or Pod.
	Kind string `json:"kind"`
	// Namespace and Name identify the object; Name may be empty on a CREATE
	// with generateName, Namespace for cluster-scoped kinds.
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	// DryRun is the request's dryRun.
	DryRun bool `json:"dryRun"`
	// Decision is the webhook's answer.
	Decision Decision `json:"decision"`
	// Message is the response's status message when the request was denied.
	Message string `json:"message,omitempty"`
	// Policies holds each evaluated policy's result.
	Policies []PolicyResult `json:"policies,omitempty"`
	// Patch summarizes the mutating webhook's patch, if any.
	Patch *PatchSummary `json:"patch,omitempty"`
	// LatencyMicros is the time the webhook took to decide, in microseconds.
	LatencyMicros int64 `json:"latencyUs"`
	// Prev is the hash of the replica's previous record, GenesisHash for
	// the first.
	Prev string `json:"prev"`
	// Hash is the lowercase hex SHA-256 of the line with its hash member
	// removed (see docs/audit.md).
	Hash string `json:"hash,omitempty"`
}

// Sentinel errors wrapped by ParseLine's errors.
var (
	// ErrUnparsable: the line is not a schema v1 record.
	ErrUnparsable = errors.New("unparsable line")
	// ErrHashMismatch: the line's hash member does not match its contents.
	ErrHashMismatch = errors.New("hash mismatch")
)

// validateForAppend checks what a caller must fill in before Append.
func (r *Record) validateForAppend() error {
	if r.Webhook == "" {
		return errors.New("webhook is empty")
	}
	if !r.Decision.Valid() {
		return fmt.Errorf("decision %q is not one of %v", r.Decision, Decisions())
	}
	return nil
}

// encodeBody returns the record's JSON without the hash member and without a
// trailing newline: the bytes the hash covers (see hashBody).
func encodeBody(r Record) ([]byte, error) {
	r.Hash = ""
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("encoding the audit record: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// hashBody returns the lowercase hex SHA-256 of a record's body.
func hashBody(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// appendSealedLine appends to dst the line for body (which ends in '}'):
// the body with `,"hash":"<hash>"}` in place of its closing brace, and a
// newline.
func appendSealedLine(dst, body []byte, hash string) []byte {
	dst = append(dst, body[:len(body)-1]...)
	dst = append(dst, hashSuffixPrefix...)
	dst = append(dst, hash...)
	return append(dst, "\"}\n"...)
}

// ParseLine decodes one line of an audit file, without its newline, and
// checks it on its own: its shape, its schema version, and that its hash
// matches its contents. It does not check the chain (Seq, Prev): that is
// VerifyChain's job. Errors wrap ErrUnparsable or ErrHashMismatch; on
// ErrHashMismatch the decoded record is returned too. line is not modified.
func ParseLine(line []byte) (Record, error) {
	if len(line) > MaxLineBytes {
		return Record{}, fmt.Errorf("%w: line is %d bytes, longer than %d", ErrUnparsable, len(line), MaxLineBytes)
	}
	if len(line) < hashSuffixLen+2 || line[0] != '{' {
		return Record{}, fmt.Errorf("%w: not a record line", ErrUnparsable)
	}
	split := len(line) - hashSuffixLen
	suffix := line[split:]
	storedHash := suffix[len(hashSuffixPrefix) : len(suffix)-2]
	if !bytes.HasPrefix(suffix, []byte(hashSuffixPrefix)) || !bytes.HasSuffix(suffix, []byte(`"}`)) || !isLowerHex(storedHash) {
		return Record{}, fmt.Errorf("%w: the line does not end with its hash member", ErrUnparsable)
	}
	body := make([]byte, 0, split+1)
	body = append(append(body, line[:split]...), '}')
	var rec Record
	if err := json.Unmarshal(body, &rec); err != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrUnparsable, err)
	}
	if rec.Hash != "" {
		return Record{}, fmt.Errorf("%w: the hash member appears more than once", ErrUnparsable)
	}
	if rec.Version != SchemaVersion {
		return Record{}, fmt.Errorf("%w: schema version %d, this reader knows %d", ErrUnparsable, rec.Version, SchemaVersion)
	}
	if rec.Seq == 0 || rec.Replica == "" || !rec.Decision.Valid() || len(rec.Prev) != sha256.Size*2 || !isLowerHex([]byte(rec.Prev)) {
		return Record{}, fmt.Errorf("%w: seq, replica, decision or prev missing or malformed", ErrUnparsable)
	}
	rec.Hash = string(storedHash)
	if computed := hashBody(body); computed != rec.Hash {
		return rec, fmt.Errorf("%w: the line says %s, its contents hash to %s", ErrHashMismatch, rec.Hash, computed)
	}
	return rec, nil
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
