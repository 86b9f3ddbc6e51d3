package allowlist_test

import (
	"fmt"

	"libvirt.org/go/libvirtxml"

	"github.com/podvirt/podvirt/nodeagent/allowlist"
)

// The node agent checks the localized domain and defines what it checked.
func Example() {
	const vmiDir = "/var/lib/podvirt/vmis/default_tiny"
	const imageRoot = "/var/lib/podvirt/images/sha256-ab/rootfs"
	dom := &libvirtxml.Domain{}
	err := dom.Unmarshal(`<domain type="qemu">
  <name>default_tiny</name>
  <os><type arch="x86_64" machine="q35">hvm</type><kernel>` + imageRoot + `/boot/vmlinux</kernel></os>
  <devices>
    <serial type="file"><source path="` + vmiDir + `/serial.log"/></serial>
    <disk type="file"><source file="/etc/shadow"/><target dev="vda"/></disk>
    <hostdev mode="subsystem" type="pci"/>
    <emulator>/tmp/qemu</emulator>
  </devices>
</domain>`)
	if err != nil {
		panic(err)
	}
	errs := allowlist.Check(dom, allowlist.Options{
		AllowedDirs:     []string{vmiDir},
		ReadOnlyDirs:    []string{imageRoot},
		ResolveSymlinks: allowlist.Lexical, // these paths exist only in this example
	})
	for _, e := range errs {
		fmt.Println(e.Field)
	}
	if errs == nil {
		xml, _ := dom.Marshal() // define this, never the text that was parsed
		_ = xml
	}
	// Output:
	// devices.emulator
	// devices.hostdev[0]
	// devices.disk[0].source.file
}
