package framework

// What the leak checker reads off the host: processes, iptables rules,
// files, cgroups and network namespaces.

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"k8s.io/apimachinery/pkg/types"
)

// qemuProcesses are the QEMU processes libvirt started for the domain
// (-name guest=<domain>,...) or with its UUID, the VMI's UID (-uuid).
func qemuProcesses(domName string, uid types.UID) []int {
	return qemuProcessesOf(func(name, uuid string) bool { return name == domName || uid != "" && uuid == string(uid) })
}

// qemuProcessesOf are the QEMU processes whose domain name and UUID match.
func qemuProcessesOf(match func(domName, uuid string) bool) []int {
	var pids []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		var pid int
		if _, err := fmt.Sscanf(d.Name(), "%d", &pid); err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || !processAlive(pid) {
			continue
		}
		args := bytes.Split(raw, []byte{0})
		name, uuid := "", ""
		for i, arg := range args {
			if n, ok := strings.CutPrefix(string(arg), "guest="); ok && name == "" {
				name, _, _ = strings.Cut(n, ",")
			}
			if string(arg) == "-uuid" && i+1 < len(args) {
				uuid = string(args[i+1])
			}
		}
		if (name != "" || uuid != "") && match(name, uuid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// iptablesRules are the host's iptables rules (iptables-save) that name
// any of words or ips.
func iptablesRules(ctx context.Context, words, ips []string) []string {
	out, err := exec.CommandContext(ctx, "iptables-save").Output()
	if err != nil {
		return []string{fmt.Sprintf("(cannot run iptables-save: %v)", err)}
	}
	var res []*regexp.Regexp
	for _, w := range words {
		res = append(res, regexp.MustCompile(regexp.QuoteMeta(w)))
	}
	for _, ip := range ips {
		res = append(res, regexp.MustCompile(`(^|[^0-9.])`+regexp.QuoteMeta(ip)+`($|[^0-9.])`))
	}
	var rules []string
	table := ""
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "*") {
			table = line[1:]
		}
		if !strings.HasPrefix(line, "-A ") {
			continue
		}
		for _, re := range res {
			if re.MatchString(line) {
				rules = append(rules, "-t "+table+" "+line)
				break
			}
		}
	}
	return rules
}

// listTree lists the files and directories under dir, relative to it; nil
// when dir does not exist.
func listTree(dir string) []string {
	if _, err := os.Lstat(dir); err != nil {
		return nil
	}
	files := []string{}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if path == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		if d != nil && d.IsDir() {
			rel += "/"
		}
		files = append(files, rel)
		return nil
	})
	return files
}

func summarize(files []string) string {
	if len(files) == 0 {
		return "nothing (an empty directory)"
	}
	if len(files) > 8 {
		return fmt.Sprintf("%s and %d more", strings.Join(files[:8], ", "), len(files)-8)
	}
	return strings.Join(files, ", ")
}

// libvirtFiles are libvirt's files of the domain: <domain>.pid, .xml and
// the like in the run directory, the EFI variable store
// nvram/<domain>_VARS.fd, and the private directories domain-<id>-<short
// name>, where the short name is the domain's first 20 bytes (libvirt's
// VIR_DOMAIN_SHORT_NAME_MAX): a truncated name is checked only when no
// other domain of that short name runs.
func libvirtFiles(domName string) []string {
	var found []string
	globs := []string{
		filepath.Join(LibvirtRunDir, globEscape(domName)+".*"),
		filepath.Join(LibvirtLibDir, "nvram", globEscape(domName)+"_VARS.fd"),
	}
	short := domName
	if len(short) > 20 {
		short = short[:20]
	}
	if short == domName || len(qemuProcessesOf(func(n, _ string) bool { return strings.HasPrefix(n, short) })) == 0 {
		for _, dir := range []string{LibvirtRunDir, LibvirtLibDir, filepath.Join(LibvirtLibDir, "channel", "target")} {
			globs = append(globs, filepath.Join(dir, "domain-[0-9]*-"+globEscape(short)))
		}
	}
	for _, g := range globs {
		m, _ := filepath.Glob(g)
		found = append(found, m...)
	}
	return found
}

var globSpecial = strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)

func globEscape(s string) string { return globSpecial.Replace(s) }

// hierarchies are the cgroup hierarchies: the root for cgroup v2, one
// directory per controller for v1.
func hierarchies() []string {
	if _, err := os.Stat(filepath.Join(CgroupRoot, "cgroup.controllers")); err == nil {
		return []string{CgroupRoot}
	}
	entries, _ := os.ReadDir(CgroupRoot)
	var hs []string
	for _, e := range entries {
		if e.IsDir() {
			hs = append(hs, filepath.Join(CgroupRoot, e.Name()))
		}
	}
	return hs
}

// podCgroups are the Pod's cgroups, in every hierarchy (the kubelet's
// cgroupfs layout: kubepods/[burstable|besteffort/]pod<uid>).
func podCgroups(uid types.UID) []string {
	var dirs []string
	for _, h := range hierarchies() {
		for _, qos := range []string{"", "burstable", "besteffort"} {
			dir := filepath.Join(h, "kubepods", qos, "pod"+string(uid))
			if _, err := os.Stat(dir); err == nil {
				dirs = append(dirs, dir)
			}
		}
	}
	return dirs
}

// podNetns is the inode of the network namespace of the Pod's containers
// (a process below the Pod's cgroup that is not in the host's namespace),
// 0 when none is found.
func podNetns(uid types.UID) uint64 {
	if path := PodNetnsPath(uid); path != "" {
		return netnsInode(path)
	}
	return 0
}

// PodNetnsPath is the network namespace (/proc/PID/ns/net) of a process
// of Pod uid that is not in the host's, "" when there is none.
func PodNetnsPath(uid types.UID) string {
	self := netnsInode("/proc/self/ns/net")
	for _, dir := range podCgroups(uid) {
		procs, _ := filepath.Glob(filepath.Join(dir, "*", "cgroup.procs"))
		for _, f := range procs {
			raw, _ := os.ReadFile(f)
			for _, pid := range strings.Fields(string(raw)) {
				path := filepath.Join("/proc", pid, "ns", "net")
				if ino := netnsInode(path); ino != 0 && ino != self {
					return path
				}
			}
		}
	}
	return ""
}

// PodLinks are the names and aliases of the links in Pod uid's network
// namespace.
func PodLinks(uid types.UID) (map[string]string, error) {
	path := PodNetnsPath(uid)
	if path == "" {
		return nil, fmt.Errorf("no process of Pod %s in a network namespace of its own", uid)
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range links {
		out[l.Attrs().Name] = l.Attrs().Alias
	}
	return out, nil
}

// netnsInUse are the inodes of the network namespaces of all processes.
func netnsInUse() map[uint64]bool {
	inUse := map[uint64]bool{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if ino := netnsInode(filepath.Join("/proc", d.Name(), "ns", "net")); ino != 0 {
			inUse[ino] = true
		}
	}
	return inUse
}

// netnsInode reads the inode of a namespace link (net:[4026531840]).
func netnsInode(link string) uint64 {
	target, err := os.Readlink(link)
	if err != nil {
		return 0
	}
	var ino uint64
	if _, err := fmt.Sscanf(target, "net:[%d]", &ino); err != nil {
		return 0
	}
	return ino
}

// hostnameChars are the characters libvirt keeps of a domain's name in
// its machine name (virDomainMachineNameAppendValid).
const hostnameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"

// libvirtCgroups are the cgroups libvirt made for the domain,
// machine/qemu-<id>-<machine name>.libvirt-qemu in every hierarchy.
func libvirtCgroups(domName string) []string {
	valid := strings.Map(func(r rune) rune {
		if strings.ContainsRune(hostnameChars, r) {
			return r
		}
		return -1
	}, domName)
	re := regexp.MustCompile(`^qemu-[0-9]+-(.+)\.libvirt-qemu$`)
	var dirs []string
	for _, h := range hierarchies() {
		for _, part := range []string{"machine", "machine.slice"} {
			entries, _ := os.ReadDir(filepath.Join(h, part))
			for _, en := range entries {
				m := re.FindStringSubmatch(en.Name())
				// libvirt cuts machine names at 64 bytes.
				if m != nil && en.IsDir() && (m[1] == valid || len(en.Name())-len(".libvirt-qemu") >= 64 && strings.HasPrefix(valid, m[1])) {
					dirs = append(dirs, filepath.Join(h, part, en.Name()))
				}
			}
		}
	}
	return dirs
}
