// Package pod renders the launcher Pod of a VirtualMachineInstance: the Pod
// that the scheduler places, the kubelet runs and accounts for, and whose
// annotations carry the domain XML to the node agent.
package pod

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/launcher/domain"
)

// Options are the cluster-wide settings of launcher Pods. A zero field
// takes its value from DefaultOptions.
type Options struct {
	// Image is the podvirt-launcher image.
	Image string
	// ImagePullPolicy of the launcher container. Defaults to IfNotPresent.
	ImagePullPolicy corev1.PullPolicy
	// MemoryOverhead is added to guest memory in the Pod's memory request
	// and limit: QEMU's own memory beyond the guest's.
	MemoryOverhead resource.Quantity
	// CPUAllocationRatio divides vCPUs into the Pod's CPU request
	// (KubeVirt's default is 10: one vCPU requests 100m).
	CPUAllocationRatio int64
	// ExtraGracePeriodSeconds is added to the VMI's grace period for the
	// Pod, so the node agent finishes the guest's shutdown first.
	ExtraGracePeriodSeconds int64
	// ContainerDiskBytes is what each containerDisk's writable overlay
	// counts in the Pod's ephemeral storage (see Storage): what the
	// guest's writes may grow it to.
	ContainerDiskBytes resource.Quantity
	// LauncherStorage is the launcher container's own ephemeral storage:
	// its logs, which the kubelet rotates at 5 files of 10Mi by default.
	LauncherStorage resource.Quantity
}

// DefaultOptions returns the options used when a field is left zero.
func DefaultOptions() Options {
	return Options{
		Image:                   "podvirt.io/launcher:dev",
		ImagePullPolicy:         corev1.PullIfNotPresent,
		MemoryOverhead:          resource.MustParse("128Mi"),
		CPUAllocationRatio:      10,
		ExtraGracePeriodSeconds: 15,
		ContainerDiskBytes:      resource.MustParse("1Gi"),
		LauncherStorage:         resource.MustParse("64Mi"),
	}
}

// Render builds the launcher Pod of a defaulted VMI, carrying domainXML,
// its persistentVolumeClaims taken as filesystem-mode claims of unknown
// size (RenderWithClaims tells it what they are).
func Render(vmi *v1alpha1.VirtualMachineInstance, domainXML string, opts Options) (*corev1.Pod, error) {
	return RenderWithClaims(vmi, domainXML, nil, opts)
}

// RenderWithClaims builds the launcher Pod of a defaulted VMI, carrying
// domainXML; claims are the VMI's persistentVolumeClaims as the
// controller read them, by claim name.
func RenderWithClaims(vmi *v1alpha1.VirtualMachineInstance, domainXML string, claims map[string]Claim, opts Options) (*corev1.Pod, error) {
	def := DefaultOptions()
	if opts.Image == "" {
		opts.Image = def.Image
	}
	if opts.ImagePullPolicy == "" {
		opts.ImagePullPolicy = def.ImagePullPolicy
	}
	if opts.CPUAllocationRatio <= 0 {
		opts.CPUAllocationRatio = def.CPUAllocationRatio
	}
	if opts.MemoryOverhead.IsZero() {
		opts.MemoryOverhead = def.MemoryOverhead
	}
	if opts.ExtraGracePeriodSeconds <= 0 {
		opts.ExtraGracePeriodSeconds = def.ExtraGracePeriodSeconds
	}
	if opts.ContainerDiskBytes.Sign() <= 0 {
		opts.ContainerDiskBytes = def.ContainerDiskBytes
	}
	if opts.LauncherStorage.Sign() <= 0 {
		opts.LauncherStorage = def.LauncherStorage
	}
	res, err := resources(vmi, opts)
	if err != nil {
		return nil, err
	}
	for _, v := range vmi.Spec.Volumes {
		if v.Name == domainspec.StateVolume && (v.CloudInitNoCloud != nil && v.CloudInitNoCloud.UserDataSecretRef != nil || v.PersistentVolumeClaim != nil || v.Ephemeral != nil || v.HostDisk != nil) {
			// Its Secret, claim or host directory would be mounted as a
			// Pod volume of the same name as the state volume.
			return nil, fmt.Errorf("spec.volumes[%s]: the name %q is the launcher Pod's own; rename the volume", v.Name, domainspec.StateVolume)
		}
	}
	grace := int64(30)
	if g := vmi.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	grace += opts.ExtraGracePeriodSeconds
	// The launcher stays, after SIGTERM, until the node agent has removed
	// the VMI's directory, which it does once the domain is gone: the
	// kubelet removes the Pod's volumes (the disks QEMU has open) and its
	// cgroup (where QEMU runs) only after the Pod's containers have
	// ended. The Pod's grace period (the VMI's plus
	// ExtraGracePeriodSeconds) bounds the wait.
	args := []string{"--domain", domainspec.Name(vmi.Namespace, vmi.Name), "--wait-for-removal", StateDir + "/" + domainspec.StateSubdir,
		"--serial-log", StateDir + "/" + domainspec.StateSubdir + "/" + domainspec.SerialLogFile}

	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      domainspec.PodName(vmi.Name),
			Namespace: vmi.Namespace,
			Labels: map[string]string{
				domainspec.LabelVMI:    vmi.Name,
				domainspec.LabelVMIUID: string(vmi.UID),
			},
			Annotations: map[string]string{domainspec.AnnotationDomain: domainXML},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         v1alpha1.GroupVersion.String(),
				Kind:               "VirtualMachineInstance",
				Name:               vmi.Name,
				UID:                vmi.UID,
				Controller:         ptr.To(true),
				BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			NodeSelector:                  vmi.Spec.NodeSelector,
			Affinity:                      vmi.Spec.Affinity,
			Tolerations:                   vmi.Spec.Tolerations,
			PriorityClassName:             vmi.Spec.PriorityClassName,
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To(int64(domainspec.LauncherUID)),
				RunAsGroup:     ptr.To(int64(domainspec.LauncherGID)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:            domainspec.LauncherContainerName,
				Image:           opts.Image,
				ImagePullPolicy: opts.ImagePullPolicy,
				Args:            args,
				Resources:       res,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			}},
		},
	}
	addCloudInitSecrets(p, vmi)
	if err := addVolumes(p, vmi, claims); err != nil {
		return nil, err
	}
	addStorage(p, ephemeralStorage(vmi, opts))
	return p, nil
}

// CloudInitSecretDir is where the launcher container mounts the Secret of
// a cloudInitNoCloud volume, by volume name. The kubelet sets up only
// volumes a container mounts; the node agent reads the files from the
// kubelet's directory for the Pod volume named after the VMI volume.
const CloudInitSecretDir = "/var/run/podvirt/cloud-init"

// addCloudInitSecrets mounts the Secret of each cloudInitNoCloud volume
// that names one. Referencing a Secret from a Pod needs no permission
// beyond creating the Pod, the same as for any Pod the user could create.
func addCloudInitSecrets(p *corev1.Pod, vmi *v1alpha1.VirtualMachineInstance) {
	for _, v := range vmi.Spec.Volumes {
		ci := v.CloudInitNoCloud
		if ci == nil || ci.UserDataSecretRef == nil {
			continue
		}
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{
			Name:         v.Name,
			VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: ci.UserDataSecretRef.Name}},
		})
		c := &p.Spec.Containers[0]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v.Name, MountPath: CloudInitSecretDir + "/" + v.Name, ReadOnly: true})
	}
}

// resources is the Pod's share: guest memory plus overhead (request =
// limit, so the guest is never squeezed), and vCPUs / allocation ratio,
// or whole CPUs for dedicated CPUs.
// Ephemeral storage is added by addStorage.
func resources(vmi *v1alpha1.VirtualMachineInstance, opts Options) (corev1.ResourceRequirements, error) {
	m := vmi.Spec.Domain.Memory
	if m == nil || m.Guest == nil {
		return corev1.ResourceRequirements{}, fmt.Errorf("spec.domain.memory.guest is not set (was the VMI defaulted?)")
	}
	mem := m.Guest.DeepCopy()
	mem.Add(opts.MemoryOverhead)
	cpu := resource.NewMilliQuantity(int64(domain.VCPUs(vmi))*1000/opts.CPUAllocationRatio, resource.DecimalSI)
	if r, ok := vmi.Spec.Domain.Resources.Requests[corev1.ResourceCPU]; ok {
		cpu = &r
	}
	res := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceMemory: mem, corev1.ResourceCPU: *cpu},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: mem},
	}
	if l, ok := vmi.Spec.Domain.Resources.Limits[corev1.ResourceCPU]; ok {
		res.Limits[corev1.ResourceCPU] = l
	}
	if dedicated, isolate := domain.DedicatedCPUs(vmi); dedicated {
		// As KubeVirt's WithCPUPinning: whole CPUs, one per vCPU and one
		// for an isolated emulator thread, request = limit (as memory
		// already is), so the Pod is of Guaranteed QoS and a kubelet with
		// the static CPU manager policy gives its container exclusive
		// CPUs, which the node agent pins the vCPUs to.
		n := int64(domain.VCPUs(vmi))
		if isolate {
			n++
		}
		whole := *resource.NewQuantity(n, resource.DecimalSI)
		res.Requests[corev1.ResourceCPU], res.Limits[corev1.ResourceCPU] = whole, whole
	}
	return res, nil
}
