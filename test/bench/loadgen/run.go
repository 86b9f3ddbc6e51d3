package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/podvirt/podvirt/test/bench/internal/load"
	"github.com/podvirt/podvirt/test/bench/internal/plan"
	"github.com/podvirt/podvirt/test/bench/internal/procstat"
	"github.com/podvirt/podvirt/test/bench/internal/report"
	"github.com/podvirt/podvirt/test/bench/internal/rules"
	"github.com/podvirt/podvirt/test/bench/internal/scenario"
	"github.com/podvirt/podvirt/test/bench/internal/stats"
)

type runFlags struct {
	kubeconfig, out, rulesFile, object, namespace, state string
	n, warmup, reps                                      int
	cs, scenarios                                        string
	noopService, noopURL, noopCA                         string
	cpu, skip, notes, installs                           multi
	settle, timeout                                      time.Duration
	environment, commit                                  string
}

func (f *runFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster (an admin)")
	fs.StringVar(&f.out, "out", "bench/results.jsonl", "results: one JSON line per cell")
	fs.StringVar(&f.rulesFile, "rules", "test/bench/testdata/rules-16.tsv", "the rules (name, CEL expression, message)")
	fs.StringVar(&f.object, "object", "examples/vmi-tiny.yaml", "the VMI to create")
	fs.StringVar(&f.namespace, "namespace", "podvirt-bench", "namespace of the creates (made if missing, left in place)")
	fs.StringVar(&f.state, "state", ".podvirt/bench-state.json", "where what the run changes is saved, for restore")
	fs.IntVar(&f.n, "n", 2000, "measured creates per cell")
	fs.IntVar(&f.warmup, "warmup", 50, "warm-up creates before each cell")
	fs.IntVar(&f.reps, "reps", 3, "repetitions (scenario order rotated per repetition)")
	fs.StringVar(&f.cs, "c", "1,16,64", "concurrencies")
	fs.StringVar(&f.scenarios, "scenarios", "", "scenarios to run, comma-separated (default all)")
	fs.StringVar(&f.noopService, "noop-service", "", "the no-op webhook's Service, NAMESPACE/NAME:PORT")
	fs.StringVar(&f.noopURL, "noop-url", "", "the no-op webhook's URL (a local process, for development)")
	fs.StringVar(&f.noopCA, "noop-ca", "", "CA bundle (PEM file) of the no-op webhook's serving certificate")
	fs.Var(&f.cpu, "cpu", "NAME=SPEC: processes of CPU group NAME (apiserver, podvirt, noop, kyverno); SPEC pid:1,2 | pidfile:F,G | pod:NS/SELECTOR (repeatable)")
	fs.Var(&f.skip, "skip", "NAME=REASON: do not measure scenario NAME, and say why in the report (repeatable)")
	fs.Var(&f.notes, "note", "a line for the report's header (repeatable)")
	fs.Var(&f.installs, "podvirt-install", "NAME=MUTATING,VALIDATING: another podvirt beside the cluster's, its VMI webhook configurations; scenarios NAME-0, NAME-1, NAME-16, CPU group NAME (repeatable; development: test/bench/dev.sh BENCH_DEV_BASELINE)")
	fs.DurationVar(&f.settle, "settle", 2*time.Second, "time given to a webhook registration no probe can confirm")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "timeout of each create")
	fs.StringVar(&f.environment, "environment", "unspecified", "what the cluster is, for the report")
	fs.StringVar(&f.commit, "commit", "", "the commit measured, for the report")
}

func (f *runFlags) restConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", f.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %q: %w", f.kubeconfig, err)
	}
	cfg.Timeout = f.timeout
	return cfg, nil
}

func (f *runFlags) env(cfg *rest.Config) (*scenario.Env, error) {
	rs, err := rules.Load(f.rulesFile)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("%s holds no rules", f.rulesFile)
	}
	body, err := load.NewVMIBody(f.object)
	if err != nil {
		return nil, err
	}
	noop := scenario.Noop{URL: f.noopURL}
	if f.noopService != "" {
		noop.ServiceNamespace, noop.ServiceName, noop.ServicePort, err = parseService(f.noopService)
		if err != nil {
			return nil, err
		}
	}
	if f.noopCA != "" {
		if noop.CABundle, err = os.ReadFile(f.noopCA); err != nil {
			return nil, fmt.Errorf("reading the no-op webhook's CA: %w", err)
		}
	}
	installs := []scenario.Install{scenario.DefaultInstall}
	for _, spec := range f.installs {
		in, err := parseInstall(spec)
		if err != nil {
			return nil, err
		}
		installs = append(installs, in)
	}
	return scenario.New(cfg, scenario.Options{
		Namespace: f.namespace, Rules: rs, Body: body, Noop: noop, Installs: installs, Settle: f.settle, StateFile: f.state, Log: logf,
	})
}

func restoreCmd(args []string) error {
	var f runFlags
	fs := flag.NewFlagSet("restore", flag.ExitOnError)
	f.register(fs)
	_ = fs.Parse(args)
	cfg, err := f.restConfig()
	if err != nil {
		return err
	}
	env, err := f.env(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return env.Restore(ctx)
}

func runCmd(args []string) error {
	var f runFlags
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	f.register(fs)
	_ = fs.Parse(args)
	cs, err := plan.ParseInts(f.cs)
	if err != nil {
		return fmt.Errorf("-c: %w", err)
	}
	if f.n <= 0 || f.warmup < 0 || f.reps <= 0 {
		return fmt.Errorf("want -n > 0, -warmup >= 0, -reps > 0")
	}
	procs, err := scenario.ParseProcFlags(f.cpu)
	if err != nil {
		return err
	}
	skips, err := parseSkips(f.skip)
	if err != nil {
		return err
	}
	cfg, err := f.restConfig()
	if err != nil {
		return err
	}
	env, err := f.env(cfg)
	if err != nil {
		return err
	}
	catalog := env.Catalog()
	names, err := plan.ParseNames(f.scenarios, scenario.Names(catalog))
	if err != nil {
		return err
	}
	byName := map[string]scenario.Scenario{}
	for _, s := range catalog {
		byName[s.Name] = s
	}
	creator, err := load.NewDryRunCreator(cfg, f.namespace, fmt.Sprintf("bench-%x", time.Now().Unix()&0xffffff), env.Body)
	if err != nil {
		return err
	}

	out, err := os.Create(f.out)
	if err != nil {
		return fmt.Errorf("creating the results file: %w", err)
	}
	defer out.Close()
	w := report.NewWriter(out)
	host, _ := os.Hostname()
	run := &report.Run{
		Started: time.Now(), Environment: f.environment, Commit: f.commit,
		Host:   fmt.Sprintf("%s, %d CPUs, %s/%s", host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH),
		Object: f.object + " (labels app and owner added, which the rules require)", Rules: fmt.Sprintf("%s (%d rules)", f.rulesFile, len(env.Rules)),
		N: f.n, Warmup: f.warmup, Reps: f.reps, C: cs, Notes: f.notes,
	}
	for _, n := range names {
		run.Scenarios = append(run.Scenarios, byName[n].ScenarioInfo)
	}
	if err := w.Write(run); err != nil {
		return err
	}
	var measured []string
	for _, n := range names {
		if reason, ok := skips[n]; ok {
			if err := w.Write(&report.Skip{Scenario: n, Reason: reason}); err != nil {
				return err
			}
			logf("not measuring %s: %s", n, reason)
			continue
		}
		measured = append(measured, n)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := &runner{env: env, creator: creator, w: w, procs: procs, f: &f, proc: procstat.Reader{}}
	if err := env.Prepare(ctx); err != nil {
		return errors.Join(err, r.restore())
	}
	runErr := r.blocks(ctx, plan.Make(measured, cs, f.reps), byName)
	if err := r.restore(); err != nil {
		return errors.Join(runErr, err)
	}
	return runErr
}

type runner struct {
	env     *scenario.Env
	creator *load.DryRunCreator
	w       *report.Writer
	procs   map[string]scenario.ProcSpec
	proc    procstat.Reader
	f       *runFlags
	seq     int
}

func (r *runner) restore() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return r.env.Restore(ctx)
}

func (r *runner) skip(b plan.Block, reason string) error {
	logf("rep %d: not measuring %s: %s", b.Rep, b.Scenario, reason)
	return r.w.Write(&report.Skip{Scenario: b.Scenario, Rep: b.Rep, Reason: reason})
}

func (r *runner) blocks(ctx context.Context, blocks []plan.Block, byName map[string]scenario.Scenario) error {
	for _, b := range blocks {
		s := byName[b.Scenario]
		logf("rep %d: %s: setting up", b.Rep, s.Name)
		err := s.Setup(ctx)
		if err == nil {
			err = r.cells(ctx, s, b)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if werr := r.skip(b, err.Error()); werr != nil {
				return werr
			}
		}
		if err := s.Teardown(ctx); err != nil {
			return fmt.Errorf("rep %d: tearing %s down (the next scenarios would not start clean): %w", b.Rep, s.Name, err)
		}
	}
	return nil
}

// cells checks the path, finds the processes, and measures b's cells.
func (r *runner) cells(ctx context.Context, s scenario.Scenario, b plan.Block) error {
	path, err := r.env.InPath(ctx)
	if err != nil {
		return err
	}
	if msg := s.Expect.Check(path); msg != "" {
		return fmt.Errorf("the request path is not the scenario's: %s", msg)
	}
	groups := map[string]string{report.CPUAPIServer: "apiserver"}
	if s.Webhook != "" {
		groups[report.CPUWebhook] = s.Webhook
	}
	pids := map[string][]int{report.CPULoadgen: {os.Getpid()}}
	for g, name := range groups {
		spec, ok := r.procs[name]
		if !ok {
			logf("no --cpu %s=...: %s CPU not measured", name, g)
			continue
		}
		p, err := spec.Resolve(ctx, r.env.Kube, r.proc)
		if err != nil {
			return fmt.Errorf("finding the %s processes: %w", name, err)
		}
		pids[g] = p
	}
	for _, c := range b.Cells {
		if err := r.cell(ctx, c, pids); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) cpu(pids map[string][]int) map[string]time.Duration {
	out := map[string]time.Duration{}
	for g, p := range pids {
		d, err := r.proc.CPU(p)
		if err != nil {
			logf("reading %s CPU: %v", g, err)
			continue
		}
		out[g] = d
	}
	return out
}

func (r *runner) cell(ctx context.Context, c plan.Cell, pids map[string][]int) error {
	if r.f.warmup > 0 {
		if _, err := load.Phase(ctx, r.creator, r.seq, r.f.warmup, c.C); err != nil {
			return err
		}
		r.seq += r.f.warmup
	}
	before, hostBefore := r.cpu(pids), r.hostCPU()
	res, err := load.Phase(ctx, r.creator, r.seq, r.f.n, c.C)
	after, hostAfter := r.cpu(pids), r.hostCPU()
	r.seq += r.f.n
	if err != nil {
		return err
	}
	sum := stats.Summarize(res.Latencies)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	cell := &report.Cell{
		Seq: c.Seq, Rep: c.Rep, Scenario: c.Scenario, C: c.C, N: r.f.n, OK: len(res.Latencies), Errors: res.Errors,
		ErrorSamples: res.ErrorSamples, ElapsedSec: res.Elapsed.Seconds(),
		P50Ms: ms(sum.P50), P90Ms: ms(sum.P90), P99Ms: ms(sum.P99), MaxMs: ms(sum.Max),
		CreatesPerSec:     float64(len(res.Latencies)) / res.Elapsed.Seconds(),
		CPUPerAdmissionUs: map[string]float64{}, CPUPIDs: pids,
	}
	if hostBefore != nil && hostAfter != nil && res.Elapsed > 0 {
		cell.HostCoresBusy = float64(hostAfter.Busy-hostBefore.Busy) / float64(res.Elapsed)
	}
	for g := range pids {
		a, okA := after[g]
		b, okB := before[g]
		if okA && okB {
			cell.CPUPerAdmissionUs[g] = float64((a - b).Microseconds()) / float64(r.f.n)
		}
	}
	cell.LatenciesUs = make([]int64, len(res.Latencies))
	for i, l := range res.Latencies {
		cell.LatenciesUs[i] = l.Microseconds()
	}
	logf("rep %d %-12s C=%-3d p50 %6.2f  p90 %6.2f  p99 %7.2f ms  %6.0f/s  errors %d  CPU µs/adm: apiserver %s webhook %s loadgen %s  cores busy %.2f",
		c.Rep, c.Scenario, c.C, cell.P50Ms, cell.P90Ms, cell.P99Ms, cell.CreatesPerSec, cell.Errors,
		fmtCPU(cell.CPUPerAdmissionUs, report.CPUAPIServer), fmtCPU(cell.CPUPerAdmissionUs, report.CPUWebhook),
		fmtCPU(cell.CPUPerAdmissionUs, report.CPULoadgen), cell.HostCoresBusy)
	if res.Errors > 0 {
		logf("  first errors: %s", strings.Join(res.ErrorSamples, " | "))
	}
	return r.w.Write(cell)
}

func (r *runner) hostCPU() *procstat.HostCPU {
	h, err := r.proc.HostCPU()
	if err != nil {
		logf("reading the host's CPU time: %v", err)
		return nil
	}
	return &h
}

func fmtCPU(m map[string]float64, g string) string {
	v, ok := m[g]
	if !ok || math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}
