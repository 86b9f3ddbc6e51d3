// Package crds embeds podvirt's generated CustomResourceDefinitions so that
// programs and tests can install them without reading files at run time.
// crds is the ground floor of podvirt: its API types live in crds/v1alpha1,
// and neither imports anything of podvirt's.
package crds

import "embed"

// Bases holds the generated CRD manifests, one file per resource.
//
//go:embed bases/podvirt.io_*.yaml
var Bases embed.FS
