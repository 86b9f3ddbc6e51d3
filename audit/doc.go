// Package audit is podvirt's admission audit log: one JSON line per decision
// of every podvirt webhook, durable before the response leaves, and
// tamper-evident through a SHA-256 chain over the lines.
//
// The writing side is a Writer, one per replica. Append seals a Record (it
// assigns the record's sequence number, the previous line's hash and its own
// hash), and returns only once the line is on disk (fsync'd). Concurrent
// Appends are group-committed: one goroutine writes every pending line and
// fsyncs once for all of them, so requests do not queue behind each other's
// fsync. Files rotate by size and the chain continues across them; Open
// resumes a chain from its last line and cuts a torn last line left by a
// crash.
//
// The reading side works on a directory holding the files of any number of
// replicas: VerifyChain walks one replica's chain and names the first broken
// line, Read merges every replica's records by time, Last returns the most
// recent ones, and Follow yields new records as they are written, across
// rotations.
//
// The surrounding pieces a webhook handler needs are here too and are pure:
// RecordFor fills a Record from an AdmissionRequest, ClassifyDecision and
// SummarizePatch derive the verdict fields, AuditAnnotations turns a sealed
// Record into the AdmissionResponse's auditAnnotations, and Metrics counts
// decisions and observes latency on a caller-supplied prometheus.Registerer.
//
// The record schema, the exact hash definition and the file layout are
// documented in docs/audit.md.
//
// Imports: the standard library, k8s.io/api's admission types (for
// RecordFor), gomodules.xyz/jsonpatch (for SummarizePatch), prometheus and
// logr; nothing of podvirt's, so that the webhooks (which write the log)
// and podvirtctl (which reads and verifies it) can both depend on it. It
// lives at the top level, not under webhooks/, because it is the log's
// format and tooling, not a handler.
package audit
