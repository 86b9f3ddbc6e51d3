#!/usr/bin/env bash
# Builds podvirt's bootable test disks: the tiny guest (build-guest.sh's
# kernel and initramfs, console=ttyS0) on a disk with a real bootloader, so
# a VMI boots it with no kernelBoot, as a cloud image boots. No loop mount,
# no root: the partition is made in a file of its own with mkfs.vfat and
# filled with mtools, then written into the disk at its offset.
#   bios.img  raw, MBR partition table, one active FAT partition with
#             SYSLINUX (syslinux's MBR and its mtools installer): what
#             SeaBIOS boots
#   efi.img   raw, GPT with one EFI system partition (FAT) holding
#             \EFI\BOOT\BOOTX64.EFI, a standalone GRUB (grub-mkstandalone)
#             whose embedded grub.cfg loads the kernel and initramfs from
#             the partition: what OVMF boots (Secure Boot off: this GRUB
#             is not signed)
# Each bootloader gives the kernel podvirt.boot=<bootloader> on its
# command line, which the kernel prints on the serial console
# ("Command line: BOOT_IMAGE=/vmlinuz console=ttyS0 ... podvirt.boot=..."),
# then the guest prints PODVIRT-GUEST-READY as it does when booted by
# kernelBoot:
#   podvirt.boot=syslinux-bios     podvirt.boot=grub-efi
# (SYSLINUX prints its banner on the serial port too; GRUB prints
# "PODVIRT-BOOTLOADER grub-efi".) GRUB's linux loader needs more than
# 256 MiB of guest memory under OVMF ("out of memory"): give EFI guests
# 512 MiB.
# Cached in $PODVIRT_CACHE/disks-v1/ (delete it to rebuild); prints the
# directory on stdout. Needs (install-deps.sh): syslinux, syslinux-common,
# mtools, dosfstools, fdisk (sfdisk), grub-efi-amd64-bin, grub-common.
#
# Boot one by hand (TCG, serial on stdout):
#   qemu-system-x86_64 -display none -m 256 -serial stdio \
#     -drive file=bios.img,format=raw,if=virtio
#   qemu-system-x86_64 -display none -m 256 -serial stdio -machine q35 \
#     -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
#     -drive if=pflash,format=raw,file=VARS.fd -drive file=efi.img,format=raw,if=virtio
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"

# Bump the suffix whenever the disks change, so caches rebuild them.
out=$PODVIRT_CACHE/disks-v1
if [[ -s $out/bios.img && -s $out/efi.img ]]; then
  log "boot disks already built in $out"
  echo "$out"
  exit 0
fi

for c in sfdisk mkfs.vfat mcopy mmd syslinux grub-mkstandalone; do
  command -v $c >/dev/null || die "$c not found: run test/local/install-deps.sh (syslinux mtools dosfstools fdisk grub-efi-amd64-bin)"
done
mbr=/usr/lib/syslinux/mbr/mbr.bin
[[ -f $mbr ]] || die "$mbr not found: apt-get install syslinux-common"
[[ -d /usr/lib/grub/x86_64-efi ]] || die "/usr/lib/grub/x86_64-efi not found: apt-get install grub-efi-amd64-bin"

guest=$("$here/build-guest.sh")
[[ -s $guest/vmlinuz && -s $guest/initrd.img ]] || die "build-guest.sh gave no kernel and initramfs in $guest"

work=$(mktemp -d "${TMPDIR:-/tmp}/podvirt-disks.XXXXXX")
trap 'rm -rf "$work"' EXIT
export MTOOLS_SKIP_CHECK=1

disk_mib=64   # the whole disk
start=2048    # the partition's first sector: 1 MiB in, as partitioning tools align
cmdline="console=ttyS0 panic=-1"

# fat_partition FILE SECTORS LABEL: a FAT file system in FILE with the
# guest's kernel and initramfs at its root.
fat_partition() {
  local file=$1 sectors=$2 label=$3
  truncate -s $((sectors * 512)) "$file"
  mkfs.vfat -n "$label" "$file" >/dev/null
  mcopy -i "$file" "$guest/vmlinuz" ::/vmlinuz
  mcopy -i "$file" "$guest/initrd.img" ::/initrd.img
}

# 1. BIOS: MBR, one active FAT partition, SYSLINUX.
t0=$SECONDS
bios=$work/bios.img
truncate -s ${disk_mib}M "$bios"
sectors=$((disk_mib * 2048 - start))
printf 'label: dos\nstart=%d, size=%d, type=c, bootable\n' $start $sectors | sfdisk -q "$bios"
cat >"$work/syslinux.cfg" <<EOF
SERIAL 0 115200
PROMPT 0
TIMEOUT 0
DEFAULT podvirt
LABEL podvirt
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND $cmdline podvirt.boot=syslinux-bios
EOF
fat_partition "$work/bios-part.img" $sectors PODVIRTBIOS
mcopy -i "$work/bios-part.img" "$work/syslinux.cfg" ::/syslinux.cfg
# The mtools installer: boot sector, ldlinux.sys and ldlinux.c32, no mount.
syslinux --install "$work/bios-part.img"
dd if="$work/bios-part.img" of="$bios" bs=512 seek=$start conv=notrunc,sparse status=none
# syslinux's MBR boot code (440 bytes: the partition table stays) loads
# the active partition's boot sector.
dd if=$mbr of="$bios" bs=440 count=1 conv=notrunc status=none
log "BIOS disk built in $((SECONDS - t0)) s"

# 2. EFI: GPT, one EFI system partition, a standalone GRUB as the
# removable-media loader \EFI\BOOT\BOOTX64.EFI (what firmware boots with
# no boot entries).
t0=$SECONDS
efi=$work/efi.img
truncate -s ${disk_mib}M "$efi"
# The last 33 sectors hold the backup GPT.
sectors=$((disk_mib * 2048 - start - 2048))
printf 'label: gpt\nstart=%d, size=%d, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system partition"\n' $start $sectors | sfdisk -q "$efi"
cat >"$work/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
echo PODVIRT-BOOTLOADER grub-efi
set gfxpayload=text
search --no-floppy --set=root --file /podvirt-efi
linux /vmlinuz $cmdline podvirt.boot=grub-efi
initrd /initrd.img
boot
EOF
grub-mkstandalone -O x86_64-efi -o "$work/BOOTX64.EFI" \
  --install-modules="normal configfile echo serial terminal search search_fs_file part_gpt part_msdos fat linux boot" \
  --modules="part_gpt fat" --locales= --fonts= --themes= \
  "boot/grub/grub.cfg=$work/grub.cfg"
fat_partition "$work/efi-part.img" $sectors PODVIRTEFI
: >"$work/podvirt-efi"
mcopy -i "$work/efi-part.img" "$work/podvirt-efi" ::/podvirt-efi
mmd -i "$work/efi-part.img" ::/EFI ::/EFI/BOOT
mcopy -i "$work/efi-part.img" "$work/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
dd if="$work/efi-part.img" of="$efi" bs=512 seek=$start conv=notrunc,sparse status=none
log "EFI disk built in $((SECONDS - t0)) s"

mkdir -p "$out"
for f in bios.img efi.img; do
  mv "$work/$f" "$out/$f.tmp" && mv "$out/$f.tmp" "$out/$f"
done
cp "$guest/VERSION" "$out/GUEST-VERSION" 2>/dev/null || true
log "boot disks in $out: bios.img (SYSLINUX, MBR), efi.img (GRUB, GPT)"
echo "$out"
