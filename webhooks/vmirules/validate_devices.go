package vmirules

import (
	"fmt"
	"net"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

func validateDisks(disks []v1alpha1.Disk) field.ErrorList {
	var errs field.ErrorList
	names := map[string]int{}
	for i, d := range disks {
		errs = append(errs, validateName(d.Name, disksPath, i)...)
		if j, dup := names[d.Name]; dup {
			errs = append(errs, field.Duplicate(disksPath.Index(i).Child("name"), fmt.Sprintf("%s (also disks[%d])", d.Name, j)))
		}
		names[d.Name] = i
		if countSet(d.Disk != nil, d.CDRom != nil, d.LUN != nil) != 1 {
			errs = append(errs, field.Invalid(disksPath.Index(i), d.Name, "set exactly one of disk, cdrom and lun"))
		}
		// QEMU's SATA hard disk (ide-hd) refuses a read-only drive, so the
		// guest would never start; KubeVirt refuses it too.
		if t := d.Disk; t != nil && t.ReadOnly && t.Bus == v1alpha1.DiskBusSATA {
			errs = append(errs, field.Invalid(disksPath.Index(i).Child("disk", "readonly"), true, "a sata hard disk cannot be read-only: use bus virtio or scsi, or a cdrom"))
		}
		// A CD-ROM with readonly: false is accepted, as KubeVirt accepts it:
		// a CD-ROM's medium is read-only whatever it says (libvirt implies
		// <readonly/> for device="cdrom"), and the renderer says so.
		if c := d.CDRom; c != nil && c.Bus == v1alpha1.DiskBusVirtio {
			errs = append(errs, field.NotSupported(disksPath.Index(i).Child("cdrom", "bus"), c.Bus, []string{"sata", "scsi"}))
		}
		if l := d.LUN; l != nil && l.Bus != "" && l.Bus != v1alpha1.DiskBusSCSI {
			errs = append(errs, field.NotSupported(disksPath.Index(i).Child("lun", "bus"), l.Bus, []string{"scsi"}))
		}
	}
	return errs
}

// validateBootOrders checks the boot orders of disks and interfaces
// together, as KubeVirt's validateBootOrder does: each is at least 1 and
// no two devices share one (libvirt refuses a domain where they do).
// Devices without one are legal: with none at all the first disk boots.
func validateBootOrders(devs *v1alpha1.Devices) field.ErrorList {
	var errs field.ErrorList
	// boot order -> the device holding it: i for disks[i], -1-j for
	// interfaces[j]; bootHolder names it only to report a duplicate.
	boot := map[uint]int{}
	for i := range devs.Disks {
		b := devs.Disks[i].BootOrder
		if b == nil {
			continue
		}
		if *b == 0 {
			errs = append(errs, field.Invalid(disksPath.Index(i).Child("bootOrder"), *b, "must be at least 1"))
		} else if other, dup := boot[*b]; dup {
			errs = append(errs, field.Duplicate(disksPath.Index(i).Child("bootOrder"), fmt.Sprintf("%d (also %s)", *b, bootHolder(devs, other))))
		} else {
			boot[*b] = i
		}
	}
	for j := range devs.Interfaces {
		b := devs.Interfaces[j].BootOrder
		if b == nil {
			continue
		}
		if *b == 0 {
			errs = append(errs, field.Invalid(interfacesPath.Index(j).Child("bootOrder"), *b, "must be at least 1"))
		} else if other, dup := boot[*b]; dup {
			errs = append(errs, field.Duplicate(interfacesPath.Index(j).Child("bootOrder"), fmt.Sprintf("%d (also %s)", *b, bootHolder(devs, other))))
		} else {
			boot[*b] = -1 - j
		}
	}
	return errs
}

func bootHolder(devs *v1alpha1.Devices, k int) string {
	if k >= 0 {
		return "disk " + devs.Disks[k].Name
	}
	return "interface " + devs.Interfaces[-1-k].Name
}

func validateInterfaces(ifaces []v1alpha1.Interface) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for i, iface := range ifaces {
		errs = append(errs, validateName(iface.Name, interfacesPath, i)...)
		if names[iface.Name] {
			errs = append(errs, field.Duplicate(interfacesPath.Index(i).Child("name"), iface.Name))
		}
		names[iface.Name] = true
		if (iface.Masquerade != nil) == (iface.Bridge != nil) {
			errs = append(errs, field.Invalid(interfacesPath.Index(i), iface.Name, "set exactly one of masquerade and bridge"))
		}
		if iface.MacAddress != "" {
			mac, err := net.ParseMAC(iface.MacAddress)
			switch {
			case err != nil || len(mac) != 6:
				errs = append(errs, field.Invalid(interfacesPath.Index(i).Child("macAddress"), iface.MacAddress, "must be a 48-bit MAC address such as 02:00:00:00:00:01"))
			case mac[0]&1 == 1:
				errs = append(errs, field.Invalid(interfacesPath.Index(i).Child("macAddress"), iface.MacAddress, "must be a unicast address (the first octet's lowest bit clear)"))
			}
		}
		if len(iface.Ports) > 0 && iface.Masquerade == nil {
			errs = append(errs, field.Forbidden(interfacesPath.Index(i).Child("ports"), "ports are forwarded only to masquerade interfaces"))
		}
		seen := map[string]int{}
		portNames := map[string]int{}
		for j, port := range iface.Ports {
			if port.Port < 1 || port.Port > 65535 {
				errs = append(errs, field.Invalid(interfacesPath.Index(i).Child("ports").Index(j).Child("port"), port.Port, "must be between 1 and 65535"))
			}
			if port.Name != "" {
				for _, msg := range validation.IsValidPortName(port.Name) {
					errs = append(errs, field.Invalid(interfacesPath.Index(i).Child("ports").Index(j).Child("name"), port.Name, msg))
				}
				// Port names name Service target ports; KubeVirt refuses
				// two alike.
				if k, dup := portNames[port.Name]; dup {
					errs = append(errs, field.Duplicate(interfacesPath.Index(i).Child("ports").Index(j).Child("name"), fmt.Sprintf("%s (also ports[%d])", port.Name, k)))
				}
				portNames[port.Name] = j
			}
			key := fmt.Sprintf("%s/%d", port.Protocol, port.Port)
			if k, dup := seen[key]; dup {
				errs = append(errs, field.Duplicate(interfacesPath.Index(i).Child("ports").Index(j), fmt.Sprintf("%s (also ports[%d])", key, k)))
			}
			seen[key] = j
		}
	}
	return errs
}

// countSet counts the true values: how many of a one-of's members are set.
func countSet(set ...bool) int {
	n := 0
	for _, s := range set {
		if s {
			n++
		}
	}
	return n
}

// validateName checks name, the name of the i-th element of the list at
// path list (a disk, interface, volume or network).
func validateName(name string, list *field.Path, i int) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(list.Index(i).Child("name"), "")}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(name) {
		errs = append(errs, field.Invalid(list.Index(i).Child("name"), name, msg))
	}
	return errs
}
