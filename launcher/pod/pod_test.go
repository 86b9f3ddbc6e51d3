package pod

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/launcher/program"
)

func vmi() *v1alpha1.VirtualMachineInstance {
	v := &v1alpha1.VirtualMachineInstance{}
	v.Name, v.Namespace, v.UID = "tiny", "ns1", "uid-1"
	v.Spec.TerminationGracePeriodSeconds = ptr.To(int64(10))
	v.Spec.NodeSelector = map[string]string{"kubernetes.io/arch": "amd64"}
	v.Spec.Tolerations = []corev1.Toleration{{Key: "virt", Operator: corev1.TolerationOpExists}}
	v.Spec.PriorityClassName = "vms"
	v.Spec.Domain.CPU = &v1alpha1.CPU{Cores: 2, Sockets: 1, Threads: 1}
	v.Spec.Domain.Memory = &v1alpha1.Memory{Guest: ptr.To(resource.MustParse("128Mi"))}
	return v
}

func TestRender(t *testing.T) {
	p, err := Render(vmi(), "<domain/>", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "virt-launcher-tiny" || p.Namespace != "ns1" {
		t.Errorf("name %s/%s", p.Namespace, p.Name)
	}
	if p.Labels[domainspec.LabelVMI] != "tiny" || p.Labels[domainspec.LabelVMIUID] != "uid-1" || p.Annotations[domainspec.AnnotationDomain] != "<domain/>" {
		t.Errorf("labels %v annotations %v", p.Labels, p.Annotations)
	}
	if len(p.OwnerReferences) != 1 || !*p.OwnerReferences[0].Controller || p.OwnerReferences[0].UID != "uid-1" {
		t.Errorf("owner %+v", p.OwnerReferences)
	}
	if *p.Spec.TerminationGracePeriodSeconds != 25 {
		t.Errorf("grace %d, want VMI's 10 + 15", *p.Spec.TerminationGracePeriodSeconds)
	}
	if p.Spec.NodeSelector["kubernetes.io/arch"] != "amd64" || len(p.Spec.Tolerations) != 1 || p.Spec.PriorityClassName != "vms" {
		t.Errorf("scheduling fields not copied: %+v", p.Spec)
	}
	res := p.Spec.Containers[0].Resources
	if m := res.Requests[corev1.ResourceMemory]; m.Cmp(resource.MustParse("256Mi")) != 0 {
		t.Errorf("memory request %s, want 128Mi guest + 128Mi overhead", m.String())
	}
	if m := res.Limits[corev1.ResourceMemory]; m.Cmp(resource.MustParse("256Mi")) != 0 {
		t.Errorf("memory limit %s", m.String())
	}
	if c := res.Requests[corev1.ResourceCPU]; c.Cmp(resource.MustParse("200m")) != 0 {
		t.Errorf("cpu request %s, want 2 vCPUs / 10", c.String())
	}
}

// TestRestrictedPodSecurity checks the fields Pod Security "restricted"
// requires of every launcher Pod.
func TestRestrictedPodSecurity(t *testing.T) {
	p, err := Render(vmi(), "<domain/>", Options{})
	if err != nil {
		t.Fatal(err)
	}
	psc := p.Spec.SecurityContext
	if psc == nil || !*psc.RunAsNonRoot || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	for _, c := range p.Spec.Containers {
		sc := c.SecurityContext
		if sc == nil || *sc.AllowPrivilegeEscalation || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("container %s security context %+v", c.Name, sc)
		}
	}
}

func TestRenderExplicitCPURequest(t *testing.T) {
	v := vmi()
	v.Spec.Domain.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")}
	p, err := Render(v, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; c.Cmp(resource.MustParse("1500m")) != 0 {
		t.Errorf("cpu request %s, want the VMI's 1500m", c.String())
	}
}

func TestCloudInitSecretMounted(t *testing.T) {
	v := vmi()
	v.Spec.Volumes = append(v.Spec.Volumes,
		v1alpha1.Volume{Name: "ci", CloudInitNoCloud: &v1alpha1.CloudInitNoCloudSource{UserDataSecretRef: &corev1.LocalObjectReference{Name: "my-ci"}}},
		v1alpha1.Volume{Name: "inline", CloudInitNoCloud: &v1alpha1.CloudInitNoCloudSource{UserData: "#cloud-config\n"}})
	p, err := Render(v, "<domain/>", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Spec.Volumes) != 2 || p.Spec.Volumes[0].Name != "ci" || p.Spec.Volumes[0].Secret == nil || p.Spec.Volumes[0].Secret.SecretName != "my-ci" ||
		p.Spec.Volumes[1].Name != domainspec.StateVolume {
		t.Fatalf("volumes %+v, want the Secret my-ci as volume ci, then the state volume", p.Spec.Volumes)
	}
	m := p.Spec.Containers[0].VolumeMounts
	if len(m) != 2 || m[0].Name != "ci" || !m[0].ReadOnly || m[0].MountPath != CloudInitSecretDir+"/ci" {
		t.Errorf("mounts %+v", m)
	}
}

// Zero options take DefaultOptions; so do a negative allocation ratio and
// a negative extra grace period, which would otherwise divide by a
// negative number or cut the guest's shutdown short.
func TestRenderDefaults(t *testing.T) {
	def := DefaultOptions()
	for name, opts := range map[string]Options{
		"zero":     {},
		"negative": {CPUAllocationRatio: -1, ExtraGracePeriodSeconds: -5},
	} {
		p, err := Render(vmi(), "<domain/>", opts)
		if err != nil {
			t.Fatal(err)
		}
		c := p.Spec.Containers[0]
		if c.Image != def.Image || c.Image == "" || c.ImagePullPolicy != corev1.PullIfNotPresent {
			t.Errorf("%s: image %q pull policy %q, want %q IfNotPresent", name, c.Image, c.ImagePullPolicy, def.Image)
		}
		if m := c.Resources.Limits[corev1.ResourceMemory]; m.Cmp(resource.MustParse("256Mi")) != 0 {
			t.Errorf("%s: memory limit %s, want 128Mi + the default 128Mi overhead", name, m.String())
		}
		if cpu := c.Resources.Requests[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("200m")) != 0 {
			t.Errorf("%s: cpu request %s, want 2 vCPUs / 10", name, cpu.String())
		}
		if g := *p.Spec.TerminationGracePeriodSeconds; g != 25 {
			t.Errorf("%s: grace %d, want 10 + 15", name, g)
		}
	}
}

// Options given are used as given.
func TestRenderOptions(t *testing.T) {
	p, err := Render(vmi(), "<domain/>", Options{
		Image: "r/launcher:1", ImagePullPolicy: corev1.PullAlways, MemoryOverhead: resource.MustParse("64Mi"),
		CPUAllocationRatio: 4, ExtraGracePeriodSeconds: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Spec.Containers[0]
	if c.Image != "r/launcher:1" || c.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("image %q pull policy %q", c.Image, c.ImagePullPolicy)
	}
	if m := c.Resources.Requests[corev1.ResourceMemory]; m.Cmp(resource.MustParse("192Mi")) != 0 {
		t.Errorf("memory request %s, want 128Mi + 64Mi", m.String())
	}
	if cpu := c.Resources.Requests[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("500m")) != 0 {
		t.Errorf("cpu request %s, want 2 vCPUs / 4", cpu.String())
	}
	if g := *p.Spec.TerminationGracePeriodSeconds; g != 11 {
		t.Errorf("grace %d, want 10 + 1", g)
	}
	// A ratio of 1 is one CPU per vCPU, not the default.
	p, _ = Render(vmi(), "", Options{CPUAllocationRatio: 1})
	if cpu := p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("2")) != 0 {
		t.Errorf("cpu request %s at ratio 1, want 2", cpu.String())
	}
}

// The CPU request counts every vCPU of the topology.
func TestCPURequestFromTopology(t *testing.T) {
	v := vmi()
	v.Spec.Domain.CPU = &v1alpha1.CPU{Sockets: 2, Cores: 3, Threads: 2}
	p, err := Render(v, "", Options{CPUAllocationRatio: 3})
	if err != nil {
		t.Fatal(err)
	}
	if cpu := p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("4")) != 0 {
		t.Errorf("cpu request %s, want 12 vCPUs / 3", cpu.String())
	}
	if _, ok := p.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU]; ok {
		t.Error("a CPU limit the VMI did not ask for")
	}
	v.Spec.Domain.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}
	if p, err = Render(v, "", Options{}); err != nil {
		t.Fatal(err)
	}
	if l := p.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU]; l.Cmp(resource.MustParse("3")) != 0 {
		t.Errorf("cpu limit %s, want the VMI's 3", l.String())
	}
}

// Without terminationGracePeriodSeconds the guest gets 30s, and the Pod
// 30s plus the extra.
func TestDefaultGracePeriod(t *testing.T) {
	v := vmi()
	v.Spec.TerminationGracePeriodSeconds = nil
	p, err := Render(v, "", Options{ExtraGracePeriodSeconds: 5})
	if err != nil {
		t.Fatal(err)
	}
	if g := *p.Spec.TerminationGracePeriodSeconds; g != 35 {
		t.Errorf("grace %d, want 30 + 5", g)
	}
	v.Spec.TerminationGracePeriodSeconds = ptr.To(int64(0))
	if p, _ = Render(v, "", Options{ExtraGracePeriodSeconds: 5}); *p.Spec.TerminationGracePeriodSeconds != 5 {
		t.Errorf("grace %d for a VMI grace of 0, want 5", *p.Spec.TerminationGracePeriodSeconds)
	}
}

func TestRenderNeedsGuestMemory(t *testing.T) {
	v := vmi()
	v.Spec.Domain.Memory = nil
	if p, err := Render(v, "", Options{}); err == nil || p != nil {
		t.Errorf("rendered %v without memory: %v", p, err)
	}
	v.Spec.Domain.Memory = &v1alpha1.Memory{}
	if p, err := Render(v, "", Options{}); err == nil || p != nil {
		t.Errorf("rendered %v without guest memory: %v", p, err)
	}
}

// What every launcher Pod is, whatever the VMI: never restarted, no
// service account token or service links, the launcher container running
// the VMI's domain as a non-root user.
func TestPodShape(t *testing.T) {
	v := vmi()
	v.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}}
	p, err := Render(v, "<domain/>", Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := p.Spec
	if s.RestartPolicy != corev1.RestartPolicyNever || s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken ||
		s.EnableServiceLinks == nil || *s.EnableServiceLinks || s.Affinity != v.Spec.Affinity {
		t.Errorf("pod spec %+v", s)
	}
	if psc := s.SecurityContext; *psc.RunAsUser != 65532 || *psc.RunAsGroup != 65532 {
		t.Errorf("runs as %d:%d", *psc.RunAsUser, *psc.RunAsGroup)
	}
	if len(s.Containers) != 1 {
		t.Fatalf("%d containers", len(s.Containers))
	}
	c := s.Containers[0]
	if c.Name != domainspec.LauncherContainerName || len(c.Args) != 6 || c.Args[0] != "--domain" || c.Args[1] != "ns1_tiny" ||
		c.Args[2] != "--wait-for-removal" || c.Args[3] != StateDir+"/"+domainspec.StateSubdir ||
		c.Args[4] != "--serial-log" || c.Args[5] != StateDir+"/"+domainspec.StateSubdir+"/"+domainspec.SerialLogFile {
		t.Errorf("container %s args %q", c.Name, c.Args)
	}
	if !*c.SecurityContext.ReadOnlyRootFilesystem || c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
		t.Errorf("container %+v", c)
	}
	o := p.OwnerReferences[0]
	if o.APIVersion != v1alpha1.GroupVersion.String() || o.Kind != "VirtualMachineInstance" || o.Name != "tiny" || !*o.BlockOwnerDeletion {
		t.Errorf("owner %+v", o)
	}
	if len(p.Spec.Volumes) != 1 || len(c.VolumeMounts) != 1 || p.Spec.Volumes[0].Name != domainspec.StateVolume {
		t.Errorf("volumes %+v mounts %+v without cloud-init Secrets, want only the state volume", p.Spec.Volumes, c.VolumeMounts)
	}
}

// Every cloud-init Secret is mounted, each at its own volume's directory;
// other volumes are not.
func TestCloudInitSecretsMounted(t *testing.T) {
	v := vmi()
	v.Spec.Volumes = []v1alpha1.Volume{
		{Name: "a", CloudInitNoCloud: &v1alpha1.CloudInitNoCloudSource{UserDataSecretRef: &corev1.LocalObjectReference{Name: "sa"}}},
		{Name: "root", ContainerDisk: &v1alpha1.ContainerDiskSource{Image: "r/d:1"}},
		{Name: "b", CloudInitNoCloud: &v1alpha1.CloudInitNoCloudSource{UserDataSecretRef: &corev1.LocalObjectReference{Name: "sb"}}},
	}
	p, err := Render(v, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	vols, mounts := p.Spec.Volumes, p.Spec.Containers[0].VolumeMounts
	if len(vols) != 3 || vols[0].Name != "a" || vols[0].Secret.SecretName != "sa" || vols[1].Name != "b" || vols[1].Secret.SecretName != "sb" {
		t.Errorf("volumes %+v", vols)
	}
	if len(mounts) != 3 || mounts[0].MountPath != "/var/run/podvirt/cloud-init/a" || mounts[1].MountPath != "/var/run/podvirt/cloud-init/b" || !mounts[1].ReadOnly {
		t.Errorf("mounts %+v", mounts)
	}
}

// The launcher's console finds the socket where the Pod mounts the state
// volume and the node agent's directory holds it.
func TestConsoleSocketIsInTheStateVolume(t *testing.T) {
	if want := StateDir + "/" + domainspec.StateSubdir + "/" + domainspec.SerialSocketFile; program.ConsoleSocket != want {
		t.Fatalf("program.ConsoleSocket = %s, want %s", program.ConsoleSocket, want)
	}
	p, err := Render(vmi(), "<domain/>", Options{})
	if err != nil {
		t.Fatal(err)
	}
	sc := p.Spec.SecurityContext
	if *sc.RunAsUser != domainspec.LauncherUID || *sc.RunAsGroup != domainspec.LauncherGID {
		t.Fatalf("the launcher runs as %d:%d, not the console socket's owner", *sc.RunAsUser, *sc.RunAsGroup)
	}
}

// Dedicated CPUs: whole CPUs, request = limit for cpu and memory, so the
// Pod is of Guaranteed QoS and the static CPU manager gives it exclusive
// CPUs; one more with an isolated emulator thread (KubeVirt's
// WithCPUPinning).
func TestDedicatedCPUsMakeAGuaranteedPod(t *testing.T) {
	for _, c := range []struct {
		name    string
		isolate bool
		want    string
	}{{"dedicated", false, "2"}, {"isolated emulator thread", true, "3"}} {
		v := vmi()
		v.Spec.Domain.CPU.DedicatedCPUPlacement = true
		v.Spec.Domain.CPU.IsolateEmulatorThread = c.isolate
		p, err := Render(v, "", Options{})
		if err != nil {
			t.Fatal(err)
		}
		r := p.Spec.Containers[0].Resources
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, lim := r.Requests[name], r.Limits[name]
			if req.Cmp(lim) != 0 || req.IsZero() {
				t.Errorf("%s: %s request %s, limit %s: want equal (Guaranteed QoS)", c.name, name, req.String(), lim.String())
			}
		}
		if cpu := r.Limits[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse(c.want)) != 0 {
			t.Errorf("%s: cpu %s, want %s whole CPUs", c.name, cpu.String(), c.want)
		}
	}
	// Without: vCPUs / ratio, no limit.
	p, err := Render(vmi(), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU]; ok {
		t.Error("a cpu limit without dedicated CPUs")
	}
}
