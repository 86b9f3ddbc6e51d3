#!/usr/bin/env bash
# Installs the Debian packages the local environment needs, once.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pkgs=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils ovmf swtpm swtpm-tools busybox-static cpio
  syslinux syslinux-common mtools dosfstools fdisk grub-efi-amd64-bin grub-common
  containerd runc containernetworking-plugins iptables iproute2 openssl curl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
[[ $(id -u) -eq 0 ]] || die "missing packages ${missing[*]}; run as root or install them"
log "installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
