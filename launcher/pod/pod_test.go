package pod

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
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
	if len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].Name != "ci" || p.Spec.Volumes[0].Secret == nil || p.Spec.Volumes[0].Secret.SecretName != "my-ci" {
		t.Fatalf("volumes %+v, want only the Secret my-ci as volume ci", p.Spec.Volumes)
	}
	m := p.Spec.Containers[0].VolumeMounts
	if len(m) != 1 || m[0].Name != "ci" || !m[0].ReadOnly || m[0].MountPath != CloudInitSecretDir+"/ci" {
		t.Errorf("mounts %+v", m)
	}
}
