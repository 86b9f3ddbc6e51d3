// Package launcher is the room of podvirt that turns a VirtualMachineInstance
// into something a node can run: domain (VMI -> libvirt domain XML), pod
// (VMI -> launcher Pod), controller (the reconciler that creates launcher
// Pods and moves VMIs through Pending, Scheduling and Scheduled) and program
// (what runs inside the launcher Pod).
package launcher
