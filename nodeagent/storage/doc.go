// Package storage makes a VMI's disks on its node: guest images pulled and
// extracted once per digest (ImageCache, outside any Pod, bounded by its
// own cap), disk files for containerDisk (qcow2 overlays over the cached
// images, overlay.go), emptyDisk and cloudInitNoCloud volumes (Volumes)
// in the launcher Pod's state volume (Dir), where the kubelet counts
// them, with the formats decided when they were made (records.go); the
// checks that a VMI's files fit what its Pod
// declares and the node's free space (quota.go), that keep an image from
// naming host files (qcow2 headers, image extraction), and the serial
// log's bound (seriallog.go). It imports nothing of podvirt's but
// domainspec and nodeagent/failure.
package storage
