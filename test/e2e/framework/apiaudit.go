package framework

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// APIAuditEvent is what the tests read of one kube-apiserver audit event
// (audit.k8s.io/v1 Event at Metadata level).
type APIAuditEvent struct {
	AuditID    string `json:"auditID"`
	Stage      string `json:"stage"`
	RequestURI string `json:"requestURI"`
	Verb       string `json:"verb"`
	User       struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"user"`
	UserAgent string `json:"userAgent"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp"`
}

// APIServerAuditLogs are the kube-apiserver's audit log files of the local
// environment (test/local/up-controlplane.sh: --audit-log-path, rotated
// by size into kube-apiserver-audit-<time>.log), oldest first.
func (e *Env) APIServerAuditLogs() []string {
	dir := filepath.Join(e.State, "logs")
	rotated, _ := filepath.Glob(filepath.Join(dir, "kube-apiserver-audit-*.log"))
	sort.Strings(rotated)
	return append(rotated, filepath.Join(dir, "kube-apiserver-audit.log"))
}

// APIServerAuditEvents reads the kube-apiserver audit events of namespace
// ns, completed requests only (stage ResponseComplete). Lines that do not
// name the namespace are skipped before decoding: the log holds the whole
// cluster's requests.
func (e *Env) APIServerAuditEvents(ns string) ([]APIAuditEvent, error) {
	needle := []byte(`"namespace":"` + ns + `"`)
	var out []APIAuditEvent
	found := false
	for _, f := range e.APIServerAuditLogs() {
		fh, err := os.Open(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = true
		r := bufio.NewReaderSize(fh, 1<<20)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 && bytes.Contains(line, needle) {
				var ev APIAuditEvent
				if jerr := json.Unmarshal(line, &ev); jerr == nil && ev.Stage == "ResponseComplete" &&
					ev.ObjectRef != nil && ev.ObjectRef.Namespace == ns {
					out = append(out, ev)
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				fh.Close()
				return nil, err
			}
		}
		fh.Close()
	}
	if !found {
		return nil, errors.New("no kube-apiserver audit log in " + filepath.Join(e.State, "logs"))
	}
	return out, nil
}

// IsWrite says whether the event is a write: create, update or patch, of
// the object or any subresource.
func (ev APIAuditEvent) IsWrite() bool {
	switch ev.Verb {
	case "create", "update", "patch":
		return true
	}
	return false
}

// FieldManager is the fieldManager query parameter of the request, if any.
func (ev APIAuditEvent) FieldManager() string {
	_, q, ok := strings.Cut(ev.RequestURI, "?")
	if !ok {
		return ""
	}
	for _, kv := range strings.Split(q, "&") {
		if v, ok := strings.CutPrefix(kv, "fieldManager="); ok {
			return v
		}
	}
	return ""
}
