package webhooks

import (
	"fmt"
	"net"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

func validateDisks(disks []v1alpha1.Disk, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]int{}
	boot := map[uint]string{}
	for i, d := range disks {
		dp := p.Index(i)
		errs = append(errs, validateName(d.Name, dp.Child("name"))...)
		if j, dup := names[d.Name]; dup {
			errs = append(errs, field.Duplicate(dp.Child("name"), fmt.Sprintf("%s (also disks[%d])", d.Name, j)))
		}
		names[d.Name] = i
		if countSet(d.Disk != nil, d.CDRom != nil, d.LUN != nil) != 1 {
			errs = append(errs, field.Invalid(dp, d.Name, "set exactly one of disk, cdrom and lun"))
		}
		if c := d.CDRom; c != nil {
			if c.Bus == v1alpha1.DiskBusVirtio {
				errs = append(errs, field.NotSupported(dp.Child("cdrom", "bus"), c.Bus, []string{"sata", "scsi"}))
			}
			if c.ReadOnly != nil && !*c.ReadOnly {
				errs = append(errs, field.Invalid(dp.Child("cdrom", "readonly"), false, "a CD-ROM is always read-only"))
			}
		}
		if l := d.LUN; l != nil && l.Bus != "" && l.Bus != v1alpha1.DiskBusSCSI {
			errs = append(errs, field.NotSupported(dp.Child("lun", "bus"), l.Bus, []string{"scsi"}))
		}
		if b := d.BootOrder; b != nil {
			if *b == 0 {
				errs = append(errs, field.Invalid(dp.Child("bootOrder"), *b, "must be at least 1"))
			} else if other, dup := boot[*b]; dup {
				errs = append(errs, field.Duplicate(dp.Child("bootOrder"), fmt.Sprintf("%d (also disk %s)", *b, other)))
			} else {
				boot[*b] = d.Name
			}
		}
	}
	return errs
}

func validateInterfaces(ifaces []v1alpha1.Interface, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for i, iface := range ifaces {
		ip := p.Index(i)
		errs = append(errs, validateName(iface.Name, ip.Child("name"))...)
		if names[iface.Name] {
			errs = append(errs, field.Duplicate(ip.Child("name"), iface.Name))
		}
		names[iface.Name] = true
		if (iface.Masquerade != nil) == (iface.Bridge != nil) {
			errs = append(errs, field.Invalid(ip, iface.Name, "set exactly one of masquerade and bridge"))
		}
		if iface.MacAddress != "" {
			mac, err := net.ParseMAC(iface.MacAddress)
			switch {
			case err != nil || len(mac) != 6:
				errs = append(errs, field.Invalid(ip.Child("macAddress"), iface.MacAddress, "must be a 48-bit MAC address such as 02:00:00:00:00:01"))
			case mac[0]&1 == 1:
				errs = append(errs, field.Invalid(ip.Child("macAddress"), iface.MacAddress, "must be a unicast address (the first octet's lowest bit clear)"))
			}
		}
		if len(iface.Ports) > 0 && iface.Masquerade == nil {
			errs = append(errs, field.Forbidden(ip.Child("ports"), "ports are forwarded only to masquerade interfaces"))
		}
		seen := map[string]int{}
		for j, port := range iface.Ports {
			pp := ip.Child("ports").Index(j)
			if port.Port < 1 || port.Port > 65535 {
				errs = append(errs, field.Invalid(pp.Child("port"), port.Port, "must be between 1 and 65535"))
			}
			if port.Name != "" {
				for _, msg := range validation.IsValidPortName(port.Name) {
					errs = append(errs, field.Invalid(pp.Child("name"), port.Name, msg))
				}
			}
			key := fmt.Sprintf("%s/%d", port.Protocol, port.Port)
			if k, dup := seen[key]; dup {
				errs = append(errs, field.Duplicate(pp, fmt.Sprintf("%s (also ports[%d])", key, k)))
			}
			seen[key] = j
		}
		if b := iface.BootOrder; b != nil && *b == 0 {
			errs = append(errs, field.Invalid(ip.Child("bootOrder"), *b, "must be at least 1"))
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

func validateName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(name) {
		errs = append(errs, field.Invalid(p, name, msg))
	}
	return errs
}
