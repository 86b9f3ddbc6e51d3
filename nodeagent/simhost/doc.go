// Package simhost is a node agent's host for nodes that only pretend to
// run guests: kwok's simulated nodes, whose domains live in libvirt's test
// driver. It pulls no image, makes no disk file, tap or cgroup, and
// makes nothing but empty VMI directories in the agent's own state
// directory, so that many
// agents can share one machine for scale tests while every API write,
// signature check, Localize and allowlist check still runs as on a real
// node.
//
// It is selected by podvirt-nodeagent --simulate-host and never on a node
// that runs real guests.
package simhost
