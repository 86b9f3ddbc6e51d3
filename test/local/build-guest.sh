#!/usr/bin/env bash
# Builds podvirt's tiny test guest: a Debian kernel plus a busybox initramfs
# that boots in seconds under TCG. Cached in $PODVIRT_CACHE/guest/ (delete
# that directory to rebuild). Prints the directory on stdout; it holds
#   vmlinuz      Debian's kernel (the package linux-image-amd64 depends on)
#   initrd.img   busybox-static /init, evdev.ko + button.ko, acpid, the
#                virtio-blk and isofs modules
#   vmlinux      the same kernel uncompressed (ELF with a PVH entry note):
#                QEMU boots it directly, skipping the xz decompression that
#                takes about 4 s under TCG (ready in ~4 s instead of ~8 s)
#
# The guest's /init mounts proc/sys/devtmpfs, loads evdev and button, starts
# busybox acpid (ACPI power button -> poweroff -f), loads virtio-blk and
# isofs and, when a disk labelled cidata (cloud-init NoCloud) is attached,
# prints one line per file on it:
#   PODVIRT-CIDATA <file> <sha256 of its content>
# and, for a disk labelled podvirt-disk (the e2e tests' containerDisks),
#   PODVIRT-DISK <sha256 of its file /data>
# With a network card it takes an address by DHCP (PODVIRT-NET <address>),
# serves "PODVIRT-GUEST-HTTP" on port 80 and, given podvirt.fetch=HOST:PORT on
# its command line, GETs / from HOST:PORT (PODVIRT-FETCH <sha256 of the
# body>). Given podvirt.probe=HOST:PORT[@SRC] (any number), it connects to
# HOST:PORT, from the source address SRC (added to eth0, with a host route
# to HOST from it) when given, sends a
# line and tells whether an answer came back within 5 s:
#   PODVIRT-PROBE HOST:PORT[@SRC] open|closed
# Given podvirt.ping6, it pings all IPv6 nodes on its link (ff02::1) and
# tells its own link-local address and each that answered:
#   PODVIRT-LL6 <address>     PODVIRT-PING6 <address>
# It then
# waits until acpid holds /dev/input/event*, then prints the line
#   PODVIRT-GUEST-READY
# on the console (boot it with console=ttyS0 to get it on the serial port),
# then runs a shell on the first serial port, /dev/ttyS0 (podvirtctl
# console; started again whenever it exits), and waits forever. A shutdown
# request sent after the marker is never lost.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Bump the suffix whenever the guest changes, so caches rebuild it.
out=$PODVIRT_CACHE/guest-v10

# extract_vmlinux: $out/vmlinuz (an xz bzImage) -> $out/vmlinux (PVH-bootable ELF).
extract_vmlinux() {
  local off tmp=$out/vmlinux.tmp
  for off in $(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$out/vmlinuz" | cut -d: -f1); do
    # (xz stops after the stream: feed it from a process substitution so
    # tail's SIGPIPE does not fail the pipeline under pipefail)
    if xz -dc --single-stream < <(tail -c +$((off + 1)) "$out/vmlinuz") >"$tmp" 2>/dev/null \
      && [[ $(head -c 4 "$tmp" | od -An -c | tr -d ' ') == '177ELF' ]]; then
      mv "$tmp" "$out/vmlinux"
      return 0
    fi
  done
  rm -f "$tmp"
  log "warning: could not extract an uncompressed vmlinux from $out/vmlinuz (not xz?); only vmlinuz is available"
}

if [[ -s $out/vmlinuz && -s $out/initrd.img ]]; then
  [[ -s $out/vmlinux ]] || extract_vmlinux
  log "tiny guest already built in $out"
  echo "$out"
  exit 0
fi

for c in apt-get apt-cache dpkg-deb cpio gzip xz; do command -v $c >/dev/null || die "$c not found"; done
busybox=/bin/busybox
[[ -x $busybox ]] && file_is_static=$(ldd $busybox 2>&1 || true) && [[ $file_is_static == *"not a dynamic"* ]] \
  || die "a static busybox is needed at /bin/busybox: apt-get install -y busybox-static"
[[ $(id -u) == 0 ]] || die "build-guest.sh must run as root (mknod /dev/console in the initramfs)"

work=$(mktemp -d "${TMPDIR:-/tmp}/podvirt-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT

# 1. The kernel package: the versioned one linux-image-amd64 depends on.
# Prefer its -unsigned twin (same kernel, no Secure Boot signature) when apt knows it.
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}')
[[ -n $pkg ]] || die "cannot resolve linux-image-amd64's kernel package (run apt-get update?)"
if apt-cache show "$pkg-unsigned" >/dev/null 2>&1; then pkg=$pkg-unsigned; fi
t0=$SECONDS
log "downloading $pkg"
(cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null) || die "apt-get download $pkg failed"
deb=$(ls "$work"/*.deb)
# Modules in load order (each after those it needs).
modules=(evdev button virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk cdrom isofs failover net_failover virtio_net)
log "extracting vmlinuz and ${modules[*]} from $(basename "$deb")"
mkdir -p "$work/pkg"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/pkg" --wildcards \
  './boot/vmlinuz-*' \
  './lib/modules/*/kernel/drivers/acpi/button.ko*' \
  './lib/modules/*/kernel/drivers/input/evdev.ko*' \
  './lib/modules/*/kernel/drivers/virtio/virtio*.ko*' \
  './lib/modules/*/kernel/drivers/block/virtio_blk.ko*' \
  './lib/modules/*/kernel/drivers/cdrom/cdrom.ko*' \
  './lib/modules/*/kernel/fs/isofs/isofs.ko*' \
  './lib/modules/*/kernel/net/core/failover.ko*' \
  './lib/modules/*/kernel/drivers/net/net_failover.ko*' \
  './lib/modules/*/kernel/drivers/net/virtio_net.ko*'
rm -f "$deb"
log "kernel package downloaded and extracted in $((SECONDS - t0)) s"

# 2. The initramfs.
t0=$SECONDS
root=$work/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,mnt,www,var/log,var/run,lib/modules,etc/acpi/PWRF}
echo PODVIRT-GUEST-HTTP >"$root/www/index.html"
# busybox udhcpc runs this with the lease in its environment.
cat >"$root/etc/udhcpc.script" <<'EOF'
#!/bin/sh
case $1 in
  bound|renew)
    ifconfig "$interface" "$ip" netmask "$subnet" up
    [ -n "$router" ] && route add default gw "$router" "$interface"
    echo "PODVIRT-NET $ip" >/dev/console ;;
esac
EOF
chmod 755 "$root/etc/udhcpc.script"
cp "$busybox" "$root/bin/busybox"
for m in "${modules[@]}"; do
  f=$(find "$work/pkg/lib/modules" -name "$m.ko*" | head -1)
  [[ -n $f ]] || die "$m.ko not found in $pkg"
  case $f in
    *.ko.xz) xz -dc "$f" >"$root/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -dcq "$f" >"$root/lib/modules/$m.ko" ;;
    *.ko.gz) gzip -dc "$f" >"$root/lib/modules/$m.ko" ;;
    *) cp "$f" "$root/lib/modules/$m.ko" ;;
  esac
done
echo "${modules[*]}" >"$root/lib/modules/order"
# The kernel opens /dev/console for init before /init can mount devtmpfs.
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3

# busybox acpid maps the power button (KEY_POWER) to the event PWRF/00000080
# and runs ./PWRF/00000080 relative to its config directory /etc/acpi.
cat >"$root/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
echo "PODVIRT-GUEST-POWEROFF" >/dev/console
poweroff -f
EOF
chmod 755 "$root/etc/acpi/PWRF/00000080"

cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m.ko; done
acpid -f -c /etc/acpi -l /var/log/acpid.log &
acpid_pid=$!
# Wait until acpid holds an input event device (the power button), so an
# early ACPI shutdown request is not lost.
while :; do
  for fd in /proc/$acpid_pid/fd/*; do
    case $(readlink "$fd") in /dev/input/event*) break 2 ;; esac
  done
  kill -0 $acpid_pid 2>/dev/null || { echo "podvirt-guest: acpid died"; acpid_pid=; break; }
  sleep 0.05
done
# cloud-init NoCloud: find the disk by its label, as cloud-init does, and
# tell what it holds. Wait (at most 5 s) for every virtio disk to appear.
disks=0
for d in /sys/bus/virtio/devices/*; do
  [ "$(cat "$d/device" 2>/dev/null)" = 0x0002 ] && disks=$((disks + 1))
done
i=0
while [ "$(ls /sys/block | grep -c '^vd')" -lt "$disks" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
if cidata=$(findfs LABEL=cidata 2>/dev/null) && mount -t iso9660 -o ro "$cidata" /mnt; then
  for f in meta-data user-data network-config; do
    [ -f /mnt/$f ] && echo "PODVIRT-CIDATA $f $(sha256sum </mnt/$f | cut -d' ' -f1)"
  done
  umount /mnt
fi
# A network card: take an address by DHCP and serve /www on port 80.
nics=0
for d in /sys/bus/virtio/devices/*; do
  [ "$(cat "$d/device" 2>/dev/null)" = 0x0001 ] && nics=$((nics + 1))
done
if [ "$nics" -gt 0 ]; then
  i=0
  while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  ifconfig lo up
  ifconfig eth0 up
  timeout 15 udhcpc -i eth0 -n -q -t 10 -T 1 -s /etc/udhcpc.script >/dev/null 2>&1 || echo "PODVIRT-NET none"
  httpd -p 80 -h /www
  # podvirt.fetch=HOST:PORT on the kernel command line: GET / from it and
  # tell the body's hash (nc: busybox-static's wget crashes resolving).
  for arg in $(cat /proc/cmdline); do
    case $arg in podvirt.fetch=*)
      hp=${arg#podvirt.fetch=}
      sum=$(printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$hp" | timeout 10 nc "${hp%:*}" "${hp##*:}" | tr -d '\r' | sed '1,/^$/d' | sha256sum | cut -d' ' -f1)
      echo "PODVIRT-FETCH $sum" ;;
    podvirt.probe=*)
      p=${arg#podvirt.probe=}
      hp=${p%@*}
      h=${hp%:*}
      if [ "$hp" != "$p" ]; then
        # busybox nc has no -s: a host route with that source instead.
        src=${p#*@}
        ip addr add "$src/32" dev eth0 2>/dev/null
        ip route add "$h/32" via 10.0.2.1 dev eth0 src "$src"
      fi
      out=$(echo PODVIRT-PROBE | timeout 5 nc "$h" "${hp##*:}" 2>/dev/null)
      if [ -n "$out" ]; then echo "PODVIRT-PROBE $p open"; else echo "PODVIRT-PROBE $p closed"; fi
      [ "$hp" != "$p" ] && ip route del "$h/32" ;;
    podvirt.ping6)
      i=0
      while ! ip -6 addr show dev eth0 scope link | grep -q 'inet6 fe80' || ip -6 addr show dev eth0 | grep -q tentative; do
        [ $i -ge 60 ] && break
        sleep 0.05; i=$((i + 1))
      done
      for a in $(ip -6 addr show dev eth0 scope link | sed -n 's|.*inet6 \([^/]*\)/.*|\1|p'); do echo "PODVIRT-LL6 $a"; done
      for a in $(ping6 -c 3 -w 4 -I eth0 ff02::1 2>/dev/null | sed -n 's|.* bytes from \([^ ]*\): .*|\1|p' | sort -u); do
        echo "PODVIRT-PING6 $a"
      done
      echo "PODVIRT-PING6-DONE" ;;
    esac
  done
fi
if disk=$(findfs LABEL=podvirt-disk 2>/dev/null) && mount -t iso9660 -o ro "$disk" /mnt; then
  echo "PODVIRT-DISK $(sha256sum </mnt/data | cut -d' ' -f1)"
  umount /mnt
fi
echo "PODVIRT-GUEST-READY"
# With console= pointing elsewhere, still tell the first serial port.
if [ -c /dev/ttyS0 ] && ! grep -qw ttyS0 /sys/class/tty/console/active 2>/dev/null; then
  echo "PODVIRT-GUEST-READY" >/dev/ttyS0
fi
# A shell on the first serial port for podvirtctl console, started again
# when it exits (exit, ^D). setsid -c makes the loop lead a session of its
# own with ttyS0 as its controlling terminal, which the shells inherit
# (job control).
if [ -c /dev/ttyS0 ]; then
  setsid -c sh -c 'while :; do sh -i; sleep 1; done' </dev/ttyS0 >/dev/ttyS0 2>&1 &
fi
while :; do sleep 3600; done
EOF
chmod 755 "$root/init"

kver=$(basename "$(ls -d "$work"/pkg/lib/modules/*)")
mkdir -p "$out"
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) | gzip -9 >"$work/initrd.img"
cp "$work"/pkg/boot/vmlinuz-* "$work/vmlinuz"
echo "$pkg $kver" >"$work/VERSION"
mv "$work/VERSION" "$out/VERSION"
mv "$work/vmlinuz" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$work/initrd.img" "$out/initrd.img.tmp" && mv "$out/initrd.img.tmp" "$out/initrd.img"
extract_vmlinux
log "initramfs built in $((SECONDS - t0)) s: $out (kernel $kver, initrd $(du -k "$out/initrd.img" | cut -f1) KiB)"
echo "$out"
