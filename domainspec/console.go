package domainspec

// The guest's serial console: QEMU listens on a unix socket in the VMI's
// directory (server mode, never waiting for a client) and logs what the
// guest writes to SerialLogFile, connected or not; `podvirt-launcher
// console`, run in the launcher container through pods/exec, connects to
// the socket through the Pod's state volume. Who may open a console is then
// who may exec into the launcher Pod: RBAC's create on pods/exec.

// SerialSocketFile is the serial console's unix socket, relative to the
// VMI's directory (NodeFacts.VMIDir), where the launcher container finds
// it in its state volume.
const SerialSocketFile = "serial.sock"

// VMIDirLink is the node agent's symbolic link, in the VMI's socket
// directory (NodeFacts.SocketDir), to the VMI's directory. QEMU binds the
// serial socket through it: the socket lives in the Pod's volume, where
// the launcher reaches it, while the path QEMU is given stays short (a
// unix socket's path is limited to 107 bytes, and the kubelet's path of a
// Pod volume is longer). Only the last element of a socket path is the
// socket; bind and connect follow links in the directories before it.
const VMIDirLink = "vmi"

// LauncherUID and LauncherGID are the user and group the launcher
// container runs as (launcher/pod sets them in the Pod's securityContext):
// the node agent gives the serial socket to them, and to no one else.
const (
	LauncherUID = 65532
	LauncherGID = 65532
)
