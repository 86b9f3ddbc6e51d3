package libvmi

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// The manifests the e2e tests used to build by string replacement on
// YAML, reproduced here: the builder must make exactly the same VMIs.
const tinyVMI = `
apiVersion: podvirt.io/v1alpha1
kind: VirtualMachineInstance
metadata:
  name: tiny
spec:
  terminationGracePeriodSeconds: 20
  domain:
    memory:
      guest: 128Mi
    devices:
      # No network card: the tiny guest boots faster without one.
      autoattachPodInterface: false
    firmware:
      kernelBoot:
        kernelArgs: console=ttyS0 panic=-1 quiet
        container:
          image: 127.0.0.1:15000/podvirt/tiny-guest:latest
          kernelPath: /boot/vmlinux
          initrdPath: /boot/initrd.img
`

func tinyGuest(name string) string {
	return strings.Replace(tinyVMI, "name: tiny\n", "name: "+name+"\n", 1)
}

func withDataDisk(manifest, source string) string {
	m := strings.Replace(manifest, "      autoattachPodInterface: false\n",
		"      autoattachPodInterface: false\n      disks:\n      - name: data\n        disk: {bus: virtio}\n", 1)
	return m + "  volumes:\n  - name: data\n    " + source + "\n"
}

func parse(t *testing.T, manifest string) *v1alpha1.VirtualMachineInstance {
	t.Helper()
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := yaml.UnmarshalStrict([]byte(manifest), vmi); err != nil {
		t.Fatalf("%v\n%s", err, manifest)
	}
	return vmi
}

func TestBuilderMatchesTheManifestsItReplaces(t *testing.T) {
	userData := "#cloud-config\nhostname: podvirt-e2e\n# nonce 42 \"quoted\"\n"
	networkData := base64.StdEncoding.EncodeToString([]byte("version: 2\nethernets: {}\n"))
	image := "127.0.0.1:15000/podvirt/qcow2-good:1"
	for _, c := range []struct {
		name string
		yaml string
		got  *v1alpha1.VirtualMachineInstance
	}{
		{"tiny", tinyVMI, NewTiny()},
		{"named", tinyGuest("survivor"), NewTiny(WithName("survivor"))},
		{"cloud-init", withDataDisk(tinyGuest("ci"), fmt.Sprintf("cloudInitNoCloud: {userData: %q, networkDataBase64: %q}", userData, networkData)),
			NewTiny(WithName("ci"), WithCloudInitNoCloud("data", NoCloudUserData(userData), NoCloudNetworkDataBase64(networkData)))},
		{"cloud-init secret", withDataDisk(tinyGuest("cisecret"), "cloudInitNoCloud: {secretRef: {name: vm-cloud-init}}"),
			NewTiny(WithName("cisecret"), WithCloudInitNoCloud("data", NoCloudUserDataSecret("vm-cloud-init")))},
		{"containerDisk", withDataDisk(tinyGuest("qcow2"), fmt.Sprintf("containerDisk: {image: %q, path: /disk/root.qcow2}", image)),
			NewTiny(WithName("qcow2"), WithContainerDisk("data", image, ContainerDiskPath("/disk/root.qcow2")))},
		{"pvc", withDataDisk(tinyGuest("unsupported"), "persistentVolumeClaim: {claimName: data}"),
			NewTiny(WithName("unsupported"), WithPersistentVolumeClaim("data", "data"))},
		{"efi", strings.NewReplacer(
			"    firmware:\n", "    firmware:\n      bootloader:\n        efi: {}\n",
			"/boot/vmlinux", "/boot/vmlinuz",
			"guest: 128Mi", "guest: 256Mi",
		).Replace(tinyGuest("efi")),
			NewTiny(WithName("efi"), WithTinyEFI(), WithMemory("256Mi"))},
		{"pod network", strings.NewReplacer(
			"autoattachPodInterface: false", "autoattachPodInterface: true",
			"kernelArgs: console=ttyS0 panic=-1 quiet", "kernelArgs: console=ttyS0 panic=-1 quiet podvirt.fetch=10.244.0.1:4242",
		).Replace(tinyGuest("web")),
			NewTiny(WithName("web"), WithAutoattachPodInterface(true), WithKernelArgs(TinyKernelArgs+" podvirt.fetch=10.244.0.1:4242"))},
		{"parked", strings.Replace(strings.Replace(tinyVMI, "name: tiny", "name: victim", 1), "spec:\n", "spec:\n  nodeSelector: {podvirt.io/no-such-node: \"true\"}\n", 1),
			NewTiny(WithName("victim"), WithNodeSelector("podvirt.io/no-such-node", "true"))},
		{"labeled", strings.Replace(tinyVMI, "name: tiny\n", "name: tiny\n  labels: {team: storage}\n", 1),
			NewTiny(WithLabel("team", "storage"))},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := parse(t, c.yaml)
			if !equality.Semantic.DeepEqual(want, c.got) {
				t.Errorf("builder and manifest differ (-manifest +builder):\n%s", diff.Diff(want, c.got))
			}
		})
	}
}

// TestBuilderMatchesTheStructsItReplaces compares with the VMIs the
// differential and audit tests used to fill in by hand.
func TestBuilderMatchesTheStructsItReplaces(t *testing.T) {
	base := func(name string) *v1alpha1.VirtualMachineInstance {
		v := &v1alpha1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
		v.Spec.Domain.Memory = &v1alpha1.Memory{Guest: ptr.To(resource.MustParse("128Mi"))}
		v.Spec.Domain.Devices.AutoattachPodInterface = ptr.To(false)
		v.Spec.Domain.Firmware = &v1alpha1.Firmware{KernelBoot: &v1alpha1.KernelBoot{Container: &v1alpha1.KernelBootContainer{
			Image: "127.0.0.1:15000/podvirt/tiny-guest:latest", KernelPath: "/boot/vmlinux"}}}
		return v
	}
	bare := func(opts ...Option) *v1alpha1.VirtualMachineInstance {
		v := New(append([]Option{WithNamespace("ns"), WithMemory(TinyMemory), WithAutoattachPodInterface(false),
			WithKernelBoot(TinyImage, TinyKernel, "")}, opts...)...)
		v.TypeMeta = metav1.TypeMeta{}
		return v
	}

	burst := base("burst-7")
	burst.Spec.NodeSelector = map[string]string{"podvirt.io/no-such-node": "true"}
	if got := bare(WithName("burst-7"), WithNodeSelector("podvirt.io/no-such-node", "true")); !equality.Semantic.DeepEqual(burst, got) {
		t.Errorf("burst VMI differs:\n%s", diff.Diff(burst, got))
	}

	diffVMI := base("max-volumes-two")
	diffVMI.Labels = map[string]string{"diff.podvirt.io/rule": "max-volumes", "owner": "team-a"}
	diffVMI.Spec.Domain.CPU = &v1alpha1.CPU{Sockets: 2, Cores: 8, Threads: 1}
	diffVMI.Spec.TerminationGracePeriodSeconds = ptr.To(int64(600))
	for i, img := range []string{"", "quay.io/os:1"} {
		n := fmt.Sprintf("d%d", i)
		diffVMI.Spec.Domain.Devices.Disks = append(diffVMI.Spec.Domain.Devices.Disks, v1alpha1.Disk{Name: n})
		if img == "" {
			diffVMI.Spec.Volumes = append(diffVMI.Spec.Volumes, v1alpha1.Volume{Name: n, EmptyDisk: &v1alpha1.EmptyDiskSource{Capacity: resource.MustParse("1Gi")}})
		} else {
			diffVMI.Spec.Volumes = append(diffVMI.Spec.Volumes, v1alpha1.Volume{Name: n, ContainerDisk: &v1alpha1.ContainerDiskSource{Image: img}})
		}
	}
	got := bare(WithName("max-volumes-two"), WithLabel("diff.podvirt.io/rule", "max-volumes"), WithLabels("owner", "team-a"),
		WithCPUTopology(2, 8, 1), WithTerminationGracePeriod(600),
		WithEmptyDisk("d0", "1Gi", DiskKindDefault()),
		WithDisk("d1", v1alpha1.Volume{ContainerDisk: &v1alpha1.ContainerDiskSource{Image: "quay.io/os:1"}}, DiskKindDefault()))
	if !equality.Semantic.DeepEqual(diffVMI, got) {
		t.Errorf("differential VMI differs:\n%s", diff.Diff(diffVMI, got))
	}
}

func TestOptions(t *testing.T) {
	v := New(
		WithName("a"), WithName("b"), // the last one wins
		WithLabels(), WithAnnotation("k", "v"),
		WithCPU(2), WithCPUModel("host-model"), WithMachine("q35"),
		WithResourceMemory("1Gi"), WithLimitMemory("2Gi"),
		WithFirmwareEFISecureBoot(false), WithFirmwareSerial("s-1"),
		WithPodNetwork(), WithRng(), WithAutoattachSerialConsole(false),
		WithEmptyDisk("scratch", "2Gi", DiskBus(v1alpha1.DiskBusSATA), DiskBootOrder(1), DiskSerial("abc")),
		WithHostDisk("host", "/var/lib/podvirt/hostdisks/x.img", v1alpha1.HostDiskExistsOrCreate),
		WithContainerDisk("root", "registry.example.io/os:1", ContainerDiskPullPolicy(corev1.PullAlways)),
		WithCloudInitNoCloud("ci", NoCloudUserDataBase64("I2Nsb3VkLWNvbmZpZwo="), NoCloudNetworkData("version: 2\n")),
		WithToleration(corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists}),
		WithPriorityClass("high"), WithNodeSelectorMap(map[string]string{"a": "b"}),
		WithKernelImagePullPolicy(corev1.PullNever),
	)
	d := v.Spec.Domain
	switch {
	case v.APIVersion != "podvirt.io/v1alpha1" || v.Kind != "VirtualMachineInstance":
		t.Errorf("type %+v", v.TypeMeta)
	case v.Name != "b" || v.Labels == nil || v.Annotations["k"] != "v":
		t.Errorf("metadata %+v", v.ObjectMeta)
	case *d.CPU != v1alpha1.CPU{Sockets: 1, Cores: 2, Threads: 1, Model: "host-model"} || d.Machine.Type != "q35":
		t.Errorf("cpu %+v machine %+v", d.CPU, d.Machine)
	case d.Resources.Requests.Memory().String() != "1Gi" || d.Resources.Limits.Memory().String() != "2Gi":
		t.Errorf("resources %+v", d.Resources)
	case d.Firmware.Bootloader.EFI.SecureBoot == nil || *d.Firmware.Bootloader.EFI.SecureBoot || d.Firmware.Serial != "s-1":
		t.Errorf("firmware %+v", d.Firmware)
	case d.Firmware.KernelBoot.Container.ImagePullPolicy != corev1.PullNever:
		t.Errorf("kernelBoot %+v", d.Firmware.KernelBoot.Container)
	case len(d.Devices.Interfaces) != 1 || d.Devices.Interfaces[0].Masquerade == nil || len(v.Spec.Networks) != 1 || v.Spec.Networks[0].Pod == nil:
		t.Errorf("network %+v %+v", d.Devices.Interfaces, v.Spec.Networks)
	case d.Devices.Rng == nil || *d.Devices.AutoattachSerialConsole:
		t.Errorf("devices %+v", d.Devices)
	case len(d.Devices.Disks) != 4 || len(v.Spec.Volumes) != 4:
		t.Errorf("disks %+v volumes %+v", d.Devices.Disks, v.Spec.Volumes)
	case d.Devices.Disks[0].Disk.Bus != v1alpha1.DiskBusSATA || *d.Devices.Disks[0].BootOrder != 1 || d.Devices.Disks[0].Serial != "abc":
		t.Errorf("scratch disk %+v", d.Devices.Disks[0])
	case v.Spec.Volumes[0].EmptyDisk.Capacity.String() != "2Gi" || v.Spec.Volumes[1].HostDisk.Type != v1alpha1.HostDiskExistsOrCreate ||
		v.Spec.Volumes[2].ContainerDisk.ImagePullPolicy != corev1.PullAlways || v.Spec.Volumes[3].CloudInitNoCloud.NetworkData != "version: 2\n":
		t.Errorf("volumes %+v", v.Spec.Volumes)
	case len(v.Spec.Tolerations) != 1 || v.Spec.PriorityClassName != "high" || v.Spec.NodeSelector["a"] != "b":
		t.Errorf("scheduling %+v", v.Spec)
	}
	for i, vol := range v.Spec.Volumes {
		if vol.Name != d.Devices.Disks[i].Name {
			t.Errorf("volume %d is %q, its disk %q", i, vol.Name, d.Devices.Disks[i].Name)
		}
	}
	if WithCPUTopology(1, 1, 1)(v); v.Spec.Domain.CPU.Model != "host-model" {
		t.Errorf("WithCPUTopology dropped the model: %+v", v.Spec.Domain.CPU)
	}
}
