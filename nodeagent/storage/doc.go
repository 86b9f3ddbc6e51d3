// Package storage makes a VMI's disks on its node: guest images pulled and
// extracted once per digest (ImageCache), disk files for containerDisk,
// emptyDisk and cloudInitNoCloud volumes (Volumes), and the checks that keep
// an image from naming host files (qcow2 headers, image extraction). It
// imports nothing of podvirt's but domainspec and nodeagent/failure.
package storage
