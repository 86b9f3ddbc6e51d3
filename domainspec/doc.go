// Package domainspec is the contract between the launcher controller and
// the node agents: what one writes on a launcher Pod and the other trusts.
// It owns the launcher Pod's name, labels, annotations and finalizers, the
// libvirt domain's name and UUID, podvirt's element in the domain's
// <metadata> (Metadata), the signature over the domain (Sign, Verify) and
// Localize, the one place where a node rewrites the signed domain for
// itself.
//
// It imports nothing of podvirt's, so the controller and the node agent can
// both depend on it without depending on each other.
//
// # The node's order
//
// A node agent trusts a launcher Pod's domain in a fixed order: Verify the
// signature and the owner, Parse, Localize with the node's facts, check the
// result against the node's allowlist, and only then touch the host.
//
// # Signatures
//
// The controller signs the domain XML it puts on a launcher Pod, so that
// the node agent defines only domains the controller rendered, for the Pod,
// VMI and node it rendered them for.
//
// # What is signed
//
// A signature covers the tuple (namespace, Pod name, VMI UID, node name,
// domain XML), where the domain XML is the node-independent text of the
// Pod's podvirt.io/domain annotation, byte for byte. Binding the namespace,
// Pod name and VMI UID stops a signed annotation from being copied onto
// another Pod, into another namespace, or onto a Pod of a recreated VMI of
// the same name; binding the node (the controller signs once the scheduler
// has bound the Pod) makes a signature good on that node only.
//
// The tuple is encoded canonically before signing: a context string
// (SignatureContext, "podvirt.io/domain-signature/v1") and then each field,
// every one of them preceded by its length as a big-endian uint64. No two different
// tuples share an encoding, so no byte can be moved from one field into its
// neighbour ("a","bc" and "ab","c" sign differently), and the context keeps a
// podvirt domain signature from ever being valid for another purpose or a
// later version of this format.
//
// # Signature format
//
// A signature is "<key id>.<signature>": the key id is the first 8 bytes of
// SHA-256 of the raw 32-byte public key, in lower-case hex (KeyID), and the
// signature is the 64-byte ed25519 signature in unpadded base64url. The key
// id lets the node agent pick the right key among several trusted ones, so
// the signing key can be rotated: node agents trust the old and the new
// public key while the controller switches, then the old one is dropped.
//
// # Keys
//
// Private keys are PKCS#8 "PRIVATE KEY" PEM blocks and public keys PKIX
// "PUBLIC KEY" blocks; a file or Secret field of public keys may hold several
// blocks (ParsePublicKeysPEM). SecretData and the FromSecretData helpers read
// and write the Data map of a Kubernetes Secret without importing the
// Kubernetes API.
//
// The package is pure: no global state, no I/O beyond the random source
// given to GenerateKey.
package domainspec
