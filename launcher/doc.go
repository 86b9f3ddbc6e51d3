// Package launcher turns a VirtualMachineInstance into something a node can
// run. Its sub-packages: domain (VMI -> libvirt domain XML), pod (VMI ->
// launcher Pod) and program (what runs inside the launcher Pod). They are
// pure renderers and a small program; the controller that uses them lives in
// controller/, and what they share with the node agent in domainspec/.
package launcher
