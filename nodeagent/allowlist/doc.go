// Package allowlist is the node agent's last word on a libvirt domain: it
// refuses anything in the domain that reaches the host, whoever signed the
// XML. A valid signature says the controller rendered the domain; the
// allowlist says this node will run it. Check runs on the parsed domain
// after domain.Localize, with host paths in place, and the node agent must
// define the re-marshalled struct it checked (dom.Marshal), never the
// original text: elements libvirtxml does not model are dropped by the
// round trip, so libvirt sees exactly what was checked.
//
// # Allowlist, not denylist
//
// Every field of the Domain struct, of its device list and of each allowed
// device is either named as allowed below or refused when set, by
// reflection: an element a newer libvirtxml learns is refused until it is
// added here. Within allowed elements, the attributes that reach the host
// are checked explicitly; pure guest-side tuning (CPU model and topology,
// features, clock, PCI addresses, aliases, boot order, I/O limits) is
// allowed as a whole.
//
// # Files
//
// Options.AllowedDirs are the directories a domain may write in (the VMI's
// own directory); Options.ReadOnlyDirs are ones it may only read from (the
// root of this VMI's image in the image cache: shared with other VMIs, so
// never written, and only this image's root, not the whole cache, whose
// other images may be other tenants'). Every file a domain names must be an
// absolute path without a ".." element or control characters, strictly
// inside one of them after filepath.Clean, and still inside one after
// resolving symbolic links (Options.ResolveSymlinks; EvalSymlinks by
// default, which also refuses a dangling link, since QEMU would create its
// target).
//
// Read-only files: os kernel, initrd, dtb, shim, acpi tables, a loader
// marked readonly='yes', nvram and varstore templates, sysinfo fw_cfg
// and SMBIOS entry files, option ROMs, cdroms, disks marked <readonly/> (not <transient/>:
// its overlay is written next to the image) and backing stores. Everything
// else is written: disks, nvram, chardev files and logs, unix sockets,
// the VNC socket. The directories themselves must be absolute and not "/",
// and should be writable by the node agent only: the check and QEMU's
// open are not atomic.
//
// # Allowed
//
//   - domain type in Options.AllowedTypes (default kvm, qemu); os type hvm;
//     firmware bios or efi (autoselected efi firmware is the host admin's,
//     from libvirt's firmware descriptors); smbios mode other than host.
//   - memory (without dumpCore), vCPUs, iothreads, cpu, numatune, clock
//     (a timezone only as a zone name: libvirt hands it to QEMU as TZ,
//     and glibc reads a file at a path given there), pm, throttle groups,
//     memtune, title, description, genid; features (Hyper-V
//     enlightenments, the KVM dedicated hint) but LXC capabilities and
//     Xen passthrough; metadata that is balanced
//     XML (libvirtxml writes it back verbatim, so unbalanced text could
//     close <metadata> and smuggle elements past the check).
//   - cputune shares, period and quota limits, and vcpu, emulator and
//     iothread pinning to Options.PinnableCPUs only (the CPUs the kubelet
//     gave the launcher container exclusively; none by default). No
//     scheduler policies, no cache or memory tuning.
//   - blkiotune weight (not per host device).
//   - memoryBacking anonymous or memfd, access, allocation, discard,
//     nosharepages.
//   - resource partition in Options.AllowedPartitions.
//   - sysinfo smbios; fw_cfg entries whose files are read-only files.
//   - seclabel type dynamic (or unset) with relabelling, without a label,
//     imagelabel or baselabel.
//   - on_poweroff, on_reboot, on_crash: destroy, restart, preserve,
//     rename-restart; on_lockfailure.
//   - disk devices disk, cdrom, floppy, with driver qemu and a format in
//     Options.AllowedDiskFormats (default raw). A format with headers
//     (qcow2...) can name backing or external data files: such a disk
//     must be a file in Options.VerifiedImages (headers checked by disk
//     preparation) and declare its backing chain: an empty
//     <backingStore/>, or, for a qcow2 overlay, exactly one level: a file
//     strictly inside Options.ReadOnlyDirs (never a writable directory),
//     of an explicit format raw or qcow2 (qcow2 only if verified too),
//     with an empty <backingStore/> of its own, and no seclabel but
//     <seclabel model='dac' relabel='no'/> (libvirt then leaves the
//     shared image's owner alone). Of type file
//     (or no source: an empty drive), block when Options.AllowBlockDisks
//     (the device node still inside the directories), network when
//     Options.AllowNetworkDisks (unix sockets inside the writable
//     directories; no auth, config file, identity or known hosts).
//     Explicit backing stores are checked like sources.
//   - controllers ide, fdc, scsi, sata, usb, virtio-serial, pci, isa, nvme.
//   - interfaces of type ethernet (a tap libvirt creates and leaves
//     unconnected, for the node agent to plumb into the launcher Pod's
//     network namespace; no host-side addresses or routes), bridge on
//     Options.AllowedBridges, network on Options.AllowedNetworks, and user
//     when Options.AllowUserNetworking (QEMU runs in the host's network
//     namespace: user networking reaches the host's loopback services, so
//     it is off by default); no script, backend, virtualport, VLAN, port
//     forward or unmanaged target (but the node agent's own tap,
//     Options.OwnTaps, on an ethernet interface), and target devs only
//     with Options.TargetDevPrefix.
//   - serial, parallel, console and channel (virtio or guestfwd target)
//     chardevs of type file, pty (no path), null, or unix only in mode
//     bind (QEMU serves it), without reconnect, at exactly one of
//     Options.ChardevSockets (the serial console's socket); chardev logs
//     only at exactly one of Options.ChardevLogs (the serial log).
//   - input tablet, mouse, keyboard (no source); video models vga, cirrus,
//     virtio, bochs, ramfb, qxl, none without 3D acceleration or vhost-user;
//     VNC graphics listening on a loopback address or a socket; USB hubs;
//     watchdogs (action not dump); the memballoon; rng with the builtin
//     backend or random on /dev/urandom; panic notifiers; one TPM,
//     tpm-tis or tpm-crb, with the emulator backend (swtpm, which libvirt
//     runs with its state in its own swtpm directory and removes with
//     the domain), version 2.0, active PCR banks, and nothing else.
//
// # Refused
//
// Everything else, in particular: host devices (hostdev, interface
// hostdev/direct/vdpa, disk lun/nvme/vhost-user/vdpa, smartcard, USB
// redirection, evdev and passthrough input, TPM passthrough and external
// swtpm sockets), TPM state that outlives the domain (persistent_state),
// is kept at a path the XML names, or is encrypted with a libvirt secret,
// swtpm debug logs and profiles, filesystem passthrough,
// shmem, memory devices, vsock, crypto, pstore, sound and audio, an
// emulator override, qemu:commandline, qemu:capabilities, qemu:override
// and every other hypervisor namespace, os init (container style) and
// idmap, a bootloader, host chardevs (dev, pipe, tcp, udp, spice, dbus,
// stdio), directory and storage-pool disks, disk auth, encryption,
// persistent reservations, mirrors and external data files, rawio and
// sgio, seclabel type none or static, relabel='no', per-device seclabels
// (but the backing file's dac relabel='no' above: it only takes access away),
// hugepages, locked memory and file-backed guest memory, realtime
// scheduler policies, resctrl (cachetune, memorytune), perf events,
// launch security, coredump actions, host SMBIOS, and a domain type or
// os type outside the lists above.
package allowlist
