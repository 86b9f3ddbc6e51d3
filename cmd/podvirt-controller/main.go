// Command podvirt-controller serves podvirt's admission webhooks and its
// node agent authorization webhook, and runs the launcher and VirtualMachine
// controllers. It only wires packages together.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/podvirt/podvirt/audit"
	"github.com/podvirt/podvirt/controller"
	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/launcher/domain"
	"github.com/podvirt/podvirt/launcher/pod"
	"github.com/podvirt/podvirt/policies"
	"github.com/podvirt/podvirt/webhooks"
	"github.com/podvirt/podvirt/webhooks/certs"
	"github.com/podvirt/podvirt/webhooks/nodeauthz"
	"github.com/podvirt/podvirt/webhooks/policycontroller"
	"github.com/podvirt/podvirt/webhooks/serving"
)

func main() {
	var (
		namespace     = flag.String("namespace", "podvirt-system", "namespace of the controller's own objects (webhook CA secret, leader lease)")
		webhookHost   = flag.String("webhook-host", "", "address the webhook server listens on (all addresses if empty)")
		webhookPort   = flag.Int("webhook-port", 9443, "port the webhook server listens on")
		webhookHTTP2  = flag.Bool("webhook-http2", false, "also offer HTTP/2 on the webhook port; off, it speaks HTTP/1.1 only, which the kube-apiserver uses for webhooks behind a Service anyway")
		certDir       = flag.String("cert-dir", "/tmp/podvirt-webhook-certs", "directory the serving certificate is written to at each rotation (the server serves it from memory)")
		certValidity  = flag.Duration("serving-cert-validity", certs.DefaultValidity, "lifetime of each serving certificate; a new one is served once a third of it is left, checked every tenth of it (at most hourly)")
		certHosts     = flag.String("cert-hosts", "podvirt-webhook.podvirt-system.svc", "comma-separated DNS names and IPs of the serving certificate")
		caSecret      = flag.String("ca-secret", "podvirt-webhook-ca", "Secret (in --namespace) holding the webhook CA")
		mutatingCfg   = flag.String("mutating-webhook-configuration", "podvirt-vmi-defaulter", "MutatingWebhookConfiguration whose caBundle is kept current")
		validatingCfg = flag.String("validating-webhook-configurations", "podvirt-vmi-validator,podvirt-launcher-pod-guard,podvirt-vmipolicy-validator,podvirt-vm-validator", "comma-separated ValidatingWebhookConfigurations whose caBundle is kept current")
		podCreators   = flag.String("launcher-pod-creators", "system:serviceaccount:podvirt-system:podvirt-controller", "comma-separated user names allowed to create launcher Pods (the controller's own identity)")
		clientCA      = flag.String("admission-client-ca-file", "", "CA bundle of the kube-apiserver's admission client certificate (also presented by its authorization webhook client, see deploy/base/authorization-config.example.yaml); when set, callers without a certificate it signed are refused")
		clientNames   = flag.String("admission-client-names", "", "comma-separated common names of admitted admission clients; empty admits any the CA signed")
		nodeAgents    = flag.String("node-agents", "system:serviceaccount:podvirt-system:podvirt-nodeagent,system:podvirt:nodeagent:", "comma-separated user names of node agents (a trailing ':' makes a prefix); the Pod guard lets them add and remove their finalizer only")
		signingSecret = flag.String("signing-key-secret", "podvirt-domain-signing-key", "Secret (in --namespace) holding the domain signing key; created if absent")
		trustedKeysCM = flag.String("trusted-keys-configmap", "podvirt-trusted-keys", "ConfigMap (in --namespace) where the public keys for node agents are published")
		domainType    = flag.String("domain-type", domain.DefaultType, "libvirt domain type: kvm, or qemu for software emulation")
		launcherImage = flag.String("launcher-image", pod.DefaultOptions().Image, "podvirt-launcher image for launcher Pods")
		launcherPull  = flag.String("launcher-image-pull-policy", string(corev1.PullIfNotPresent), "pull policy of the launcher image")
		containerDisk = flag.String("container-disk-bytes", "1Gi", "ephemeral storage each containerDisk's writable overlay counts in its launcher Pod: what the guest's writes may grow it to (the image's virtual size and about 0.2%); node agents refuse an image whose overlay could grow past what the Pod declares (a VMI may raise its total with spec.domain.resources ephemeral-storage)")
		auditDir      = flag.String("audit-dir", "/var/lib/podvirt/audit", "directory of the admission audit log")
		auditMaxBytes = flag.Int64("audit-max-file-bytes", 64<<20, "size at which an audit log file is rotated")
		replica       = flag.String("replica", os.Getenv("POD_NAME"), "this replica's name in audit log file names ($POD_NAME; the host name if empty)")
		policyAudit   = flag.Duration("policy-audit-interval", 5*time.Minute, "how often each VMIPolicy is audited against existing VMIs")
		leaderElect   = flag.Bool("leader-elect", true, "elect a leader among replicas for the controller (webhooks are served by all)")
		leaseDuration = flag.Duration("leader-elect-lease-duration", 15*time.Second, "how long a leader's lease lasts without renewal: the failover time when a leader dies (a graceful stop releases it at once)")
		renewDeadline = flag.Duration("leader-elect-renew-deadline", 10*time.Second, "how long the leader retries renewing before it gives up leading (less than the lease duration)")
		retryPeriod   = flag.Duration("leader-elect-retry-period", 2*time.Second, "how often candidates try to acquire, and the leader to renew, the lease")
		vmiWorkers    = flag.Int("vmi-workers", 10, "VMIs the launcher controller reconciles at once (KubeVirt's --vmi-controller-threads)")
		vmWorkers     = flag.Int("vm-workers", 3, "VirtualMachines reconciled at once (KubeVirt's controller threads)")
		apiQPS        = flag.Float64("kube-api-qps", 200, "queries per second to the kube-apiserver, sustained (KubeVirt's virt-controller default; controller-runtime's 20 holds a burst of VMI starts to about 3 a second)")
		apiBurst      = flag.Int("kube-api-burst", 400, "queries to the kube-apiserver in a burst above --kube-api-qps")
		shutdownDelay = flag.Duration("shutdown-delay", 5*time.Second, "after SIGTERM, how long to keep serving while /readyz fails, so endpoints stop sending here before the webhook server drains")
		gracefulStop  = flag.Duration("graceful-shutdown-timeout", 30*time.Second, "after the shutdown delay, how long in-flight admissions and the controllers get to finish")
		metricsAddr   = flag.String("metrics-bind-address", ":8080", "metrics address, 0 to disable")
		probeAddr     = flag.String("health-probe-bind-address", ":8081", "health probe address")
		pprofAddr     = flag.String("pprof-addr", "", "serve net/http/pprof at this loopback address (host:port, host 127.0.0.1, ::1 or localhost), for profiling; empty (the default) serves none")
		unknownAfter  = flag.Duration("node-unknown-timeout", controller.DefaultUnknownTimeout, "how long the VMIs of a node whose heartbeat Lease (in --namespace) ran out stay Unknown before they fail (NodeLost), and then only once the node is fenced (docs/operations.md); 0 fails them as soon as it is")
	)
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	cdBytes, err := resource.ParseQuantity(*containerDisk)
	if err == nil && cdBytes.Sign() <= 0 {
		err = errors.New("want a positive quantity")
	}
	exitOn(err, "parsing --container-disk-bytes")
	exitOn(checkLoopback(*pprofAddr), "checking --pprof-addr")
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	must(clientgoscheme.AddToScheme(scheme))
	must(v1alpha1.AddToScheme(scheme))

	cfg := ctrl.GetConfigOrDie()
	cfg.QPS, cfg.Burst = float32(*apiQPS), *apiBurst
	ctx := ctrl.SetupSignalHandler()
	// The manager stops --shutdown-delay after the signal; until then it
	// serves and is not ready.
	mgrCtx, shutdownCheck := serving.ShutdownDelay(ctx, *shutdownDelay, ctrl.Log.WithName("shutdown"))

	direct, err := client.New(cfg, client.Options{Scheme: scheme})
	exitOn(err, "creating a client")
	rotator, err := certs.NewRotator(ctx, direct, certs.Options{
		Namespace: *namespace, SecretName: *caSecret, Hosts: strings.Split(*certHosts, ","), Dir: *certDir, Validity: *certValidity,
	})
	exitOn(err, "preparing the webhook serving certificate")
	caPEM := rotator.CA()
	signingKey, err := controller.EnsureSigningKey(ctx, direct, controller.SigningKeyOptions{
		Namespace: *namespace, SecretName: *signingSecret, TrustedKeysConfigMap: *trustedKeysCM,
	})
	exitOn(err, "preparing the domain signing key")
	callers, err := webhooks.NewCallerAuth(*clientCA, splitNonEmpty(*clientNames), metrics.Registry)
	exitOn(err, "reading the admission client CA")
	if *clientCA == "" {
		log.Info("WARNING: --admission-client-ca-file is not set: any caller that reaches the webhook port is believed (see docs/security.md)")
	}

	webhookServer := serving.NewServer(serving.Options{
		Host: *webhookHost, Port: *webhookPort, HTTP2: *webhookHTTP2, DrainTimeout: *gracefulStop, Stopping: ctx.Done(), Log: ctrl.Log.WithName("webhook-server"),
		TLSOpts: []func(*tls.Config){callers.TLS, func(c *tls.Config) { c.GetCertificate = rotator.GetCertificate }},
	})
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		// The node agents' heartbeat Leases, beside the leader Lease: the
		// controller may read Leases of its own namespace only.
		Cache:                         cache.Options{ByObject: map[client.Object]cache.ByObject{&coordinationv1.Lease{}: {Namespaces: map[string]cache.Config{*namespace: {}}}}},
		Metrics:                       metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress:        *probeAddr,
		PprofBindAddress:              *pprofAddr,
		LeaderElection:                *leaderElect,
		LeaderElectionID:              "podvirt-controller",
		LeaderElectionNamespace:       *namespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 leaseDuration,
		RenewDeadline:                 renewDeadline,
		RetryPeriod:                   retryPeriod,
		GracefulShutdownTimeout:       gracefulStop,
		WebhookServer:                 webhookServer,
	})
	exitOn(err, "creating the manager")

	if *replica == "" {
		*replica, _ = os.Hostname()
	}
	auditLog, err := audit.Open(ctx, audit.Options{Dir: *auditDir, Replica: *replica, MaxFileBytes: *auditMaxBytes, Log: ctrl.Log.WithName("audit")})
	exitOn(err, "opening the admission audit log")
	auditMetrics, err := audit.NewMetrics(metrics.Registry)
	exitOn(err, "registering the audit metrics")
	nodeAuthzMetrics, err := nodeauthz.NewMetrics(metrics.Registry)
	exitOn(err, "registering the node agent authorization metrics")
	compiler, err := policies.NewCompiler(policies.CompilerOptions{})
	exitOn(err, "building the policy compiler")
	policyCache := policies.NewCache(compiler)
	params := &policycontroller.APIParams{Reader: mgr.GetAPIReader(), Mapper: mgr.GetRESTMapper()}
	injector := &certs.CABundleInjector{
		Client: mgr.GetClient(), CA: caPEM,
		MutatingWebhooks: []string{*mutatingCfg}, ValidatingWebhooks: strings.Split(*validatingCfg, ","),
	}
	exitOn(injector.SetupWithManager(mgr), "setting up the CA bundle injector")
	exitOn(mgr.Add(rotator), "adding the serving certificate rotator")
	exitOn(mgr.AddReadyzCheck("ca-bundle", injector.TrustChecker(rotator.Certificate)), "adding the CA bundle check")
	webhooks.Register(mgr, webhooks.Options{
		LauncherPodCreators: strings.Split(*podCreators, ","), NodeAgents: strings.Split(*nodeAgents, ","), Callers: callers,
		Compiler: compiler, Policies: policyCache, Params: params,
		AuditLog: auditLog, Metrics: auditMetrics, Events: mgr.GetEventRecorder("podvirt-admission"),
		NodeAuthz: nodeAuthzMetrics,
	})
	violations, err := policycontroller.NewViolationsGauge(metrics.Registry)
	exitOn(err, "registering the policy metrics")
	policyController := &policycontroller.Reconciler{
		Client: mgr.GetClient(), Cache: policyCache, Params: params, AuditInterval: *policyAudit, Violations: violations,
	}
	exitOn(policyController.SetupWithManager(mgr), "setting up the VMIPolicy controller")
	exitOn(mgr.AddReadyzCheck("policies", policyController.SyncedChecker), "adding the policy cache check")
	podOpts := pod.DefaultOptions()
	podOpts.Image = *launcherImage
	podOpts.ImagePullPolicy = corev1.PullPolicy(*launcherPull)
	podOpts.ContainerDiskBytes = cdBytes
	exitOn((&controller.Reconciler{
		Client:     mgr.GetClient(),
		APIReader:  mgr.GetAPIReader(),
		Recorder:   mgr.GetEventRecorder("podvirt-launcher"),
		Domain:     domain.Options{Type: *domainType},
		Pod:        podOpts,
		SigningKey: signingKey,
		Workers:    *vmiWorkers,
	}).SetupWithManager(mgr), "setting up the launcher controller")
	exitOn((&controller.VMReconciler{Client: mgr.GetClient(), Workers: *vmWorkers}).SetupWithManager(mgr), "setting up the VirtualMachine controller")
	heartbeatMetrics, err := controller.NewHeartbeatMetrics(metrics.Registry)
	exitOn(err, "registering the node heartbeat metrics")
	if *unknownAfter <= 0 {
		*unknownAfter = -1 // the reconciler's "none"
	}
	exitOn((&controller.NodeHeartbeatReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("podvirt-node-heartbeat"),
		Metrics: heartbeatMetrics, Namespace: *namespace, UnknownTimeout: *unknownAfter,
	}).SetupWithManager(mgr), "setting up the node heartbeat controller")

	exitOn(mgr.AddHealthzCheck("healthz", healthz.Ping), "adding the health check")
	exitOn(mgr.AddReadyzCheck("webhook", webhookServer.StartedChecker()), "adding the ready check")
	exitOn(mgr.AddReadyzCheck("shutdown", shutdownCheck), "adding the shutdown check")
	exitOn(mgr.AddHealthzCheck("audit-log", func(*http.Request) error { return auditLog.Err() }), "adding the audit log check")

	log.Info("starting", "webhookPort", *webhookPort, "domainType", *domainType)
	runErr := mgr.Start(mgrCtx)
	// Close the audit log only once no handler can append to it: the
	// manager may return (grace period over) before its webhook server has.
	webhookServer.WaitStopped()
	closeErr := auditLog.Close()
	exitOn(runErr, "running the manager")
	exitOn(closeErr, "closing the admission audit log")
}

func must(err error) { exitOn(err, "building the scheme") }

func exitOn(err error, what string) {
	if err != nil {
		ctrl.Log.WithName("setup").Error(err, what)
		os.Exit(1)
	}
}

// checkLoopback accepts "" (no pprof) or a host:port whose host is a
// loopback address: profiles show request contents and cost CPU to take,
// so they are never served beyond the machine.
func checkLoopback(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address (127.0.0.1, ::1 or localhost)", host)
	}
	return nil
}

func splitNonEmpty(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
