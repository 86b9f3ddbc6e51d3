package podvirtctl

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/podvirt/podvirt/audit"
)

// newAuditCommand is `podvirtctl audit`: query, tail and verify the
// admission audit log (package audit; format in docs/audit.md).
func newAuditCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Query, follow and verify podvirt's admission audit log",
		Long: `The admission audit log holds one JSON line per decision of podvirt's
webhooks, in one SHA-256 chain per controller replica. These commands read a
directory of audit files: the controller's --audit-dir, or a copy of it
(kubectl cp).`,
	}
	cmd.AddCommand(newAuditQueryCommand(), newAuditTailCommand(), newAuditVerifyCommand())
	return cmd
}

// auditReadFlags are the flags query and tail share.
type auditReadFlags struct {
	dir       string
	since     string
	until     string
	namespace string
	user      string
	webhook   string
	policy    string
	decisions []string
	output    string
}

func (f *auditReadFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.dir, "dir", audit.DefaultDir, "directory holding the audit files of every replica")
	fs.StringVar(&f.since, "since", "", "only records at or after this time: RFC 3339 (2026-03-01T12:00:00Z), a date (2026-03-01, UTC) or a duration back from now (90m)")
	fs.StringVar(&f.until, "until", "", "only records before this time, in the same forms as --since")
	fs.StringVar(&f.namespace, "namespace", "", "only records of objects in this namespace")
	fs.StringVar(&f.user, "user", "", "only records of requests by this user")
	fs.StringVar(&f.webhook, "webhook", "", "only records of this webhook (mutate-vmi, validate-vmi, pod-guard, validate-vmipolicy, validate-vm)")
	fs.StringVar(&f.policy, "policy", "", "only records in which this policy was evaluated")
	fs.StringSliceVar(&f.decisions, "decision", nil, "only records with these decisions (allowed, denied, warned, mutated; comma-separated or repeated)")
	fs.StringVarP(&f.output, "output", "o", "table", "output format: table, or json (one record per line, as stored)")
}

// filter builds the audit.Filter the flags describe; now anchors durations.
func (f *auditReadFlags) filter(now time.Time) (audit.Filter, error) {
	var flt audit.Filter
	var err error
	if flt.Since, err = parseAuditTime(f.since, now); err != nil {
		return flt, fmt.Errorf("--since: %w", err)
	}
	if flt.Until, err = parseAuditTime(f.until, now); err != nil {
		return flt, fmt.Errorf("--until: %w", err)
	}
	if !flt.Since.IsZero() && !flt.Until.IsZero() && !flt.Since.Before(flt.Until) {
		return flt, fmt.Errorf("--since %s is not before --until %s", f.since, f.until)
	}
	for _, d := range f.decisions {
		decision := audit.Decision(strings.ToLower(strings.TrimSpace(d)))
		if !decision.Valid() {
			return flt, fmt.Errorf("--decision %q is not one of %v", d, audit.Decisions())
		}
		flt.Decisions = append(flt.Decisions, decision)
	}
	flt.Namespace, flt.User, flt.Webhook, flt.Policy = f.namespace, f.user, f.webhook, f.policy
	return flt, nil
}

// parseAuditTime reads a time flag: empty, RFC 3339, a date, or a duration
// before now.
func parseAuditTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time, a date (YYYY-MM-DD) nor a duration such as 90m", s)
}

func (f *auditReadFlags) printer(out io.Writer, stream bool) (auditPrinter, error) {
	switch f.output {
	case "table":
		if stream {
			return &auditStreamPrinter{out: out}, nil
		}
		return &auditTablePrinter{tw: tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)}, nil
	case "json":
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		return &auditJSONPrinter{enc: enc}, nil
	}
	return nil, fmt.Errorf("--output %q: use table or json", f.output)
}

// printAuditRecords prints every record of records and warns on stderr about
// lines it could not use (and, if noteEmpty, when nothing matched). It
// returns the first error that is not a bad line.
func printAuditRecords(records iter.Seq2[audit.Record, error], p auditPrinter, stderr io.Writer, noteEmpty bool) error {
	bad, printed := 0, 0
	for rec, err := range records {
		var lineErr *audit.LineError
		switch {
		case errors.As(err, &lineErr):
			bad++
			fmt.Fprintf(stderr, "warning: skipping %v\n", lineErr)
		case err != nil:
			return err
		default:
			if err := p.print(rec); err != nil {
				return fmt.Errorf("printing: %w", err)
			}
			printed++
		}
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "warning: %d line(s) skipped; run `podvirtctl audit verify` to check the chains\n", bad)
	}
	if printed == 0 && noteEmpty {
		fmt.Fprintln(stderr, "no matching audit records")
	}
	return p.flush()
}

func newAuditQueryCommand() *cobra.Command {
	var flags auditReadFlags
	cmd := &cobra.Command{
		Use:   "query",
		Short: "Print the audit records that match the filters, every replica merged by time",
		Example: `  podvirtctl audit query --dir ./audit --since 2h --decision denied
  podvirtctl audit query --namespace team-a --policy deny-host-disk -o json | jq .`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flt, err := flags.filter(time.Now())
			if err != nil {
				return err
			}
			p, err := flags.printer(cmd.OutOrStdout(), false)
			if err != nil {
				return err
			}
			if _, err := os.Stat(flags.dir); err != nil {
				return fmt.Errorf("audit directory: %w", err)
			}
			return printAuditRecords(audit.Read(cmd.Context(), flags.dir, flt), p, cmd.ErrOrStderr(), true)
		},
	}
	flags.bind(cmd.Flags())
	return cmd
}

func newAuditTailCommand() *cobra.Command {
	var (
		flags  auditReadFlags
		follow bool
		lines  int
		poll   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Print the last audit records; with -f, keep printing new ones across rotations and replicas",
		Example: `  podvirtctl audit tail -n 20
  podvirtctl audit tail -f --decision denied,warned`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if lines < 0 {
				return fmt.Errorf("--lines %d: must not be negative", lines)
			}
			flt, err := flags.filter(time.Now())
			if err != nil {
				return err
			}
			p, err := flags.printer(cmd.OutOrStdout(), follow)
			if err != nil {
				return err
			}
			if !follow {
				if _, err := os.Stat(flags.dir); err != nil {
					return fmt.Errorf("audit directory: %w", err)
				}
				return printAuditRecords(audit.Last(cmd.Context(), flags.dir, flt, lines), p, cmd.ErrOrStderr(), true)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			records := audit.Follow(ctx, flags.dir, audit.FollowOptions{Filter: flt, Last: lines, PollInterval: poll})
			if err := printAuditRecords(records, p, cmd.ErrOrStderr(), false); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		},
	}
	flags.bind(cmd.Flags())
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing records as they are written, until interrupted")
	cmd.Flags().IntVarP(&lines, "lines", "n", 10, "how many of the existing records to print first")
	cmd.Flags().DurationVar(&poll, "poll-interval", 250*time.Millisecond, "how often -f looks for new records")
	return cmd
}

func newAuditVerifyCommand() *cobra.Command {
	var (
		dir          string
		replicas     []string
		anchors      []string
		apiserverLog []string
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check every replica's hash chain; fail naming the first edited, removed or reordered line",
		Long: `verify walks each replica's chain from its first line and checks every
line's hash, its sequence number and its link to the previous line. It exits
non-zero and names the first broken line of each broken chain.

Lines cut from the end of a chain, or a chain rewritten with every hash
recomputed, are only detectable against hashes kept elsewhere: anchors
<replica>:<seq>:<hash>, the "record" audit annotation of each podvirt
admission. Pass them one by one with --anchor, or let verify take every one
from the kube-apiserver's audit log with --apiserver-audit-log: each
ResponseComplete event's annotations whose key ends in "/record" (the
kube-apiserver writes them as <webhook name>/record). Each anchor must name
a line of its replica's chain that carries its hash; verify names each one
that does not (its replica has no chain in --dir, the line has another hash,
or the chain ends before it) and exits non-zero. With --replica, anchors of
other replicas are skipped and counted.`,
		Example: `  podvirtctl audit verify --dir ./audit
  podvirtctl audit verify --dir ./audit --anchor podvirt-controller-0:1042:9f86d0...
  podvirtctl audit verify --dir ./audit --apiserver-audit-log kube-apiserver-audit.log \
      --apiserver-audit-log kube-apiserver-audit-2026-03-01T12-00-00.000.log.gz
  kubectl -n podvirt-system exec -i podvirt-controller-0 -- /podvirtctl audit verify \
      --replica podvirt-controller-0 --apiserver-audit-log - <kube-apiserver-audit.log`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set := newAnchorSet()
			for _, s := range anchors {
				a, err := audit.ParseAnchor(s)
				if err != nil {
					return fmt.Errorf("--anchor: %w", err)
				}
				set.add(a, "--anchor")
			}
			var malformed []string
			if len(apiserverLog) > 0 {
				var scan apiserverAuditScan
				before := len(set.list)
				if stdins := len(slices.DeleteFunc(slices.Clone(apiserverLog), func(p string) bool { return p != "-" })); stdins > 1 {
					return errors.New("--apiserver-audit-log: - (stdin) can be given once")
				}
				for _, path := range apiserverLog {
					if err := readAPIServerAuditLog(cmd.Context(), path, cmd.InOrStdin(), &scan, set.add); err != nil {
						return fmt.Errorf("--apiserver-audit-log: %w", err)
					}
				}
				printAPIServerAuditScan(cmd.OutOrStdout(), cmd.ErrOrStderr(), &scan, len(set.list)-before)
				malformed = scan.malformed
			}
			return verifyAuditChains(cmd.Context(), cmd.OutOrStdout(), dir, replicas, set.list, malformed)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", audit.DefaultDir, "directory holding the audit files of every replica")
	cmd.Flags().StringSliceVar(&replicas, "replica", nil, "verify only these replicas' chains, and skip the anchors of others (default: every chain in --dir, and every anchor's replica)")
	cmd.Flags().StringArrayVar(&anchors, "anchor", nil, "a <replica>:<seq>:<hash> the chain must contain (repeatable)")
	cmd.Flags().StringArrayVar(&apiserverLog, "apiserver-audit-log", nil,
		"a kube-apiserver audit log file (JSON lines; rotated and gzip-compressed ones too; - for stdin) whose podvirt record annotations the chains must contain (repeatable)")
	return cmd
}

// sourcedAnchor is an anchor and where verify took it from.
type sourcedAnchor struct {
	audit.Anchor
	// from is "--anchor" or "<file>:<line> (<annotation key>)".
	from string
}

// anchorSet dedupes anchors, keeping the first place each was seen.
type anchorSet struct {
	list []sourcedAnchor
	seen map[audit.Anchor]bool
}

func newAnchorSet() *anchorSet { return &anchorSet{seen: map[audit.Anchor]bool{}} }

func (s *anchorSet) add(a audit.Anchor, from string) {
	if !s.seen[a] {
		s.seen[a] = true
		s.list = append(s.list, sourcedAnchor{Anchor: a, from: from})
	}
}

// printAPIServerAuditScan says what verify took from the kube-apiserver's
// audit logs; distinct counts the anchors new to the set.
func printAPIServerAuditScan(out, stderr io.Writer, scan *apiserverAuditScan, distinct int) {
	fmt.Fprintf(out, "kube-apiserver audit log: %d anchor(s) from %d event(s) in %d file(s)", distinct, scan.events, scan.files)
	if dup := scan.annotations - len(scan.malformed) - distinct; dup > 0 {
		fmt.Fprintf(out, " (%d record annotation(s), %d repeated)", scan.annotations, dup)
	}
	if scan.otherStages > 0 {
		fmt.Fprintf(out, "; %d event(s) at stages other than ResponseComplete ignored", scan.otherStages)
	}
	fmt.Fprintln(out)
	for _, at := range scan.torn {
		fmt.Fprintf(out, "kube-apiserver audit log: note: the last line, %s, is incomplete (the kube-apiserver may be writing it); it was not read\n", at)
	}
	for _, m := range scan.malformed {
		fmt.Fprintf(out, "kube-apiserver audit log: FAILED: %s\n", m)
	}
	if scan.annotations == 0 {
		fmt.Fprintln(stderr, "warning: the kube-apiserver audit log holds no podvirt record annotations: does its audit policy log podvirt.io resources at level Metadata or above (docs/audit.md)?")
	}
}

// anchorFailure is an anchor that did not verify, and why.
type anchorFailure struct {
	sourcedAnchor
	reason string
}

// verifyAuditChains verifies the chains against the anchors and prints one
// line per replica, then one per anchor that failed. malformed are record
// annotations that are no anchors, already printed; they fail the run too.
// The error names the first broken line.
func verifyAuditChains(ctx context.Context, out io.Writer, dir string, replicas []string, anchors []sourcedAnchor, malformed []string) error {
	found, err := audit.Replicas(dir)
	if err != nil {
		return err
	}
	narrowed := len(replicas) > 0
	if !narrowed {
		replicas = found
		for _, a := range anchors {
			if !slices.Contains(replicas, a.Replica) {
				replicas = append(replicas, a.Replica) // its files are gone: that is a break too
			}
		}
	}
	if len(replicas) == 0 {
		return fmt.Errorf("no audit files in %s", dir)
	}
	byReplica := map[string][]sourcedAnchor{}
	skipped := 0
	for _, a := range anchors {
		if !slices.Contains(replicas, a.Replica) {
			skipped++ // only when narrowed: else every anchor's replica is in replicas
			continue
		}
		byReplica[a.Replica] = append(byReplica[a.Replica], a)
	}
	var (
		firstBreak error
		failures   []anchorFailure
	)
	broken, verifiedAnchors, unchecked := 0, 0, 0
	var records uint64
	for _, replica := range replicas {
		mine := byReplica[replica]
		if !slices.Contains(found, replica) {
			broken++
			err := fmt.Errorf("replica %s: no audit files in %s", replica, dir)
			fmt.Fprintf(out, "%s: BROKEN: no audit files\n", replica)
			if firstBreak == nil {
				firstBreak = err
			}
			for _, a := range mine {
				failures = append(failures, anchorFailure{a, fmt.Sprintf("no chain: replica %s has no audit files in %s", replica, dir)})
			}
			continue
		}
		plain := make([]audit.Anchor, len(mine))
		for i, a := range mine {
			plain[i] = a.Anchor
		}
		sum, results, err := audit.CheckAnchors(ctx, dir, replica, plain)
		var chainBreak *audit.Break
		if err != nil && !errors.As(err, &chainBreak) {
			return fmt.Errorf("verifying replica %s: %w", replica, err)
		}
		// The chain's first break in chain order: an anchor's that comes
		// before the chain's own (or past its end), else the chain's own.
		first, firstSeq := chainBreak, uint64(0)
		if chainBreak != nil {
			firstSeq = chainBreak.Seq
		}
		notReached := 0
		for i, res := range results {
			var brk *audit.Break
			switch {
			case res == nil:
				verifiedAnchors++
			case errors.Is(res, audit.ErrAnchorNotReached):
				notReached++
			case errors.As(res, &brk) && mine[i].Seq > sum.LastSeq:
				failures = append(failures, anchorFailure{mine[i], "the chain ends before it: " + brk.Detail})
			case errors.As(res, &brk):
				failures = append(failures, anchorFailure{mine[i], "mismatch: " + brk.Detail})
			default:
				failures = append(failures, anchorFailure{mine[i], res.Error()})
			}
			if brk != nil && (first == nil || mine[i].Seq < firstSeq) {
				first, firstSeq = brk, mine[i].Seq
			}
		}
		unchecked += notReached
		if first == nil {
			records += sum.Records
			fmt.Fprintf(out, "%s: ok: %d record(s) in %d file(s), seq 1-%d, head %s\n", replica, sum.Records, len(sum.Files), sum.LastSeq, sum.Head)
			if sum.TornTail {
				fmt.Fprintf(out, "%s: note: %s ends in an incomplete line (a write in progress, or a crash the writer has not reopened after); it is not counted\n",
					replica, sum.Files[len(sum.Files)-1])
			}
			continue
		}
		broken++
		before := min(sum.Records, firstSeq-1)
		fmt.Fprintf(out, "%s: BROKEN at %s:%d: %s: %s (%d record(s) verified before it)\n", replica, first.File, first.Line, first.Reason, first.Detail, before)
		if notReached > 0 {
			fmt.Fprintf(out, "%s: %d anchor(s) not checked: they name lines after the chain's break\n", replica, notReached)
		}
		if firstBreak == nil {
			firstBreak = fmt.Errorf("replica %s: first broken line %w", replica, first)
		}
	}
	slices.SortFunc(failures, func(a, b anchorFailure) int {
		return cmp.Or(strings.Compare(a.Replica, b.Replica), cmp.Compare(a.Seq, b.Seq), strings.Compare(a.Hash, b.Hash))
	})
	for _, f := range failures {
		fmt.Fprintf(out, "anchor %s from %s: FAILED: %s\n", f.Anchor, f.from, f.reason)
	}
	if len(anchors) > 0 {
		fmt.Fprintf(out, "anchors: %d of %d verified", verifiedAnchors, len(anchors))
		if len(failures) > 0 {
			fmt.Fprintf(out, ", %d failed", len(failures))
		}
		if unchecked > 0 {
			fmt.Fprintf(out, ", %d not checked (their chain breaks before them)", unchecked)
		}
		if skipped > 0 {
			fmt.Fprintf(out, ", %d skipped (their replicas are not among --replica)", skipped)
		}
		fmt.Fprintln(out)
	}
	if broken > 0 || len(malformed) > 0 {
		var parts []string
		if broken > 0 {
			parts = append(parts, fmt.Sprintf("%d of %d chain(s) broken", broken, len(replicas)))
		}
		if n := len(failures) + unchecked; n > 0 {
			parts = append(parts, fmt.Sprintf("%d of %d anchor(s) not verified", n, len(anchors)-skipped))
		}
		if len(malformed) > 0 {
			parts = append(parts, fmt.Sprintf("%d record annotation(s) not an anchor", len(malformed)))
			if firstBreak == nil {
				firstBreak = errors.New(malformed[0])
			}
		}
		return fmt.Errorf("audit log verification failed: %s; %w", strings.Join(parts, ", "), firstBreak)
	}
	fmt.Fprintf(out, "verified %d record(s) in %d chain(s)\n", records, len(replicas))
	return nil
}

// auditPrinter prints records in one output format.
type auditPrinter interface {
	print(audit.Record) error
	flush() error
}

type auditJSONPrinter struct{ enc *json.Encoder }

func (p *auditJSONPrinter) print(rec audit.Record) error { return p.enc.Encode(rec) }
func (p *auditJSONPrinter) flush() error                 { return nil }

var auditTableHeader = []string{"TIME", "WEBHOOK", "DECISION", "OPERATION", "KIND", "OBJECT", "USER", "POLICIES", "LATENCY"}

func auditTableRow(rec audit.Record) []string {
	object := rec.Name
	if object == "" {
		object = "-"
	}
	if rec.Namespace != "" {
		object = rec.Namespace + "/" + object
	}
	policies := make([]string, 0, len(rec.Policies))
	for _, p := range rec.Policies {
		policies = append(policies, p.Name+"="+string(p.Result))
	}
	policyList := strings.Join(policies, ",")
	if policyList == "" {
		policyList = "-"
	}
	operation := rec.Operation
	if rec.DryRun {
		operation += "(dry-run)"
	}
	return []string{
		rec.Time.UTC().Format("2006-01-02T15:04:05.000Z"),
		rec.Webhook, string(rec.Decision), operation, rec.Kind, object, rec.User, policyList,
		(time.Duration(rec.LatencyMicros) * time.Microsecond).String(),
	}
}

// auditTablePrinter aligns all rows at flush.
type auditTablePrinter struct {
	tw      *tabwriter.Writer
	started bool
}

func (p *auditTablePrinter) print(rec audit.Record) error {
	if !p.started {
		p.started = true
		if _, err := fmt.Fprintln(p.tw, strings.Join(auditTableHeader, "\t")); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(p.tw, strings.Join(auditTableRow(rec), "\t"))
	return err
}

func (p *auditTablePrinter) flush() error { return p.tw.Flush() }

// auditStreamPrinter prints each row as it comes, in fixed-width columns
// (a long value shifts the rest of its row only).
type auditStreamPrinter struct {
	out     io.Writer
	started bool
}

var auditStreamWidths = []int{24, 18, 8, 9, 22, 32, 24, 32, 0}

func (p *auditStreamPrinter) row(cells []string) error {
	var b strings.Builder
	for i, cell := range cells {
		if i == len(cells)-1 {
			b.WriteString(cell)
			break
		}
		fmt.Fprintf(&b, "%-*s  ", auditStreamWidths[i], cell)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(p.out, b.String())
	return err
}

func (p *auditStreamPrinter) print(rec audit.Record) error {
	if !p.started {
		p.started = true
		if err := p.row(auditTableHeader); err != nil {
			return err
		}
	}
	return p.row(auditTableRow(rec))
}

func (p *auditStreamPrinter) flush() error { return nil }
