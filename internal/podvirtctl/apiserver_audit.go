package podvirtctl

// Reading the kube-apiserver's own audit log for the anchors of podvirt's
// admission audit chains (`podvirtctl audit verify --apiserver-audit-log`).

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	// The kube-apiserver's own Event type. k8s.io/apiserver is a direct
	// dependency already, and this package is already linked into
	// podvirtctl (through policies and the CEL admission plugin), so using
	// it adds no module and no package to the build.
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/podvirt/podvirt/audit"
)

// maxAPIServerAuditLineBytes bounds one line of a kube-apiserver audit log.
// Events at Metadata level are a few KiB; at RequestResponse level an
// event holds whole objects (a LIST response: many), hence the generous cap.
const maxAPIServerAuditLineBytes = 256 << 20

// errNotAuditEvent marks a line that is not a kube-apiserver audit event.
var errNotAuditEvent = errors.New("not a kube-apiserver audit event (a JSON audit.k8s.io/v1 Event; is --audit-log-format json?)")

// recordAnnotation is one podvirt record annotation of an audit event.
type recordAnnotation struct {
	// Key is the annotation's key as the kube-apiserver wrote it:
	// "<webhook name>/record", e.g. validator.vmi.podvirt.io/record.
	Key   string
	Value string
	// Anchor is Value parsed; Err says why Value is not an anchor.
	Anchor audit.Anchor
	Err    error
}

// apiserverAuditEvent is what verify uses of one kube-apiserver audit event.
type apiserverAuditEvent struct {
	AuditID string
	Stage   auditv1.Stage
	// Records are the event's record annotations, sorted by key.
	Records []recordAnnotation
}

// isRecordAnnotationKey reports whether an audit event's annotation key is
// a podvirt record annotation. The kube-apiserver keys a webhook's audit
// annotation "<webhook name>/<key>" (h.Name + "/" + k in
// k8s.io/apiserver/pkg/admission/plugin/webhook/{validating,mutating}/dispatcher.go)
// and refuses keys with more than one "/" (checkKeyFormat in
// k8s.io/apiserver/pkg/admission/attributes.go), so the webhook name is
// everything before the only "/".
func isRecordAnnotationKey(key string) bool {
	return key == audit.AnnotationRecord || strings.HasSuffix(key, "/"+audit.AnnotationRecord)
}

// parseAPIServerAuditLine decodes one line (without its newline) of a
// kube-apiserver audit log in JSON format. Errors wrap errNotAuditEvent.
// A record annotation whose value is not an anchor is no error here: it
// comes back with its Err set.
func parseAPIServerAuditLine(line []byte) (apiserverAuditEvent, error) {
	var ev auditv1.Event
	if err := json.Unmarshal(line, &ev); err != nil {
		return apiserverAuditEvent{}, fmt.Errorf("%w: %w", errNotAuditEvent, err)
	}
	if ev.APIVersion != auditv1.SchemeGroupVersion.String() || ev.Kind != "Event" {
		return apiserverAuditEvent{}, fmt.Errorf("%w: apiVersion %q, kind %q", errNotAuditEvent, ev.APIVersion, ev.Kind)
	}
	if ev.Stage == "" {
		return apiserverAuditEvent{}, fmt.Errorf("%w: no stage", errNotAuditEvent)
	}
	out := apiserverAuditEvent{AuditID: string(ev.AuditID), Stage: ev.Stage}
	for key, value := range ev.Annotations {
		if !isRecordAnnotationKey(key) {
			continue
		}
		ann := recordAnnotation{Key: key, Value: value}
		ann.Anchor, ann.Err = audit.ParseAnchor(value)
		out.Records = append(out.Records, ann)
	}
	slices.SortFunc(out.Records, func(a, b recordAnnotation) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// apiserverAuditScan is what verify took from kube-apiserver audit logs.
type apiserverAuditScan struct {
	files int
	// events counts the ResponseComplete events with a record annotation,
	// annotations their record annotations, otherStages the events of
	// other stages (their annotations repeat ResponseComplete's).
	events, annotations, otherStages int
	// torn are the files whose last line is incomplete and was not read.
	torn []string
	// malformed are record annotations whose value is not an anchor.
	malformed []string
}

// readAPIServerAuditLog reads one kube-apiserver audit log, plain or
// gzip-compressed (as --audit-log-compress rotates them), "-" being stdin,
// and calls add for each record annotation's anchor of its ResponseComplete
// events, with the place it was found. A line that is not an audit event
// fails the read naming file:line, except an incomplete last line (the
// kube-apiserver may be writing it), which is noted in scan.torn.
func readAPIServerAuditLog(ctx context.Context, path string, stdin io.Reader, scan *apiserverAuditScan, add func(a audit.Anchor, from string)) error {
	var r io.Reader = stdin
	if path == "-" {
		path = "stdin"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("kube-apiserver audit log: %w", err)
		}
		defer f.Close()
		r = f
	}
	lines := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := lines.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(lines)
		if err != nil {
			return fmt.Errorf("kube-apiserver audit log %s: %w", path, err)
		}
		defer zr.Close()
		lines = bufio.NewReaderSize(zr, 64<<10)
	}
	scan.files++
	use := func(ev apiserverAuditEvent, line int) {
		if ev.Stage != auditv1.StageResponseComplete {
			scan.otherStages++
			return
		}
		if len(ev.Records) > 0 {
			scan.events++
		}
		for _, ann := range ev.Records {
			scan.annotations++
			at := fmt.Sprintf("%s:%d (%s)", path, line, ann.Key)
			if ann.Err != nil {
				scan.malformed = append(scan.malformed, fmt.Sprintf("%s: %v", at, ann.Err))
				continue
			}
			add(ann.Anchor, at)
		}
	}
	var buf []byte
	for n := 1; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		buf = buf[:0]
		var err error
		for {
			var chunk []byte
			chunk, err = lines.ReadSlice('\n')
			if len(buf)+len(chunk) > maxAPIServerAuditLineBytes {
				return fmt.Errorf("%s:%d: the line is longer than %d bytes", path, n, maxAPIServerAuditLineBytes)
			}
			buf = append(buf, chunk...)
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		switch {
		case errors.Is(err, io.EOF) && len(buf) == 0:
			return nil
		case errors.Is(err, io.EOF):
			// The last line has no newline. If it is a whole event, the
			// writer just did not end it; else it is being written.
			if ev, perr := parseAPIServerAuditLine(buf); perr == nil {
				use(ev, n)
			} else {
				scan.torn = append(scan.torn, fmt.Sprintf("%s:%d", path, n))
			}
			return nil
		case err != nil:
			return fmt.Errorf("reading %s: %w", path, err)
		}
		ev, err := parseAPIServerAuditLine(buf[:len(buf)-1])
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		use(ev, n)
	}
}
