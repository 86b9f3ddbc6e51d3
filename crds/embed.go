// Package crds embeds podvirt's generated CustomResourceDefinitions so that
// programs and tests can install them without reading files at run time.
package crds

import "embed"

// Bases holds the generated CRD manifests, one file per resource.
//
//go:embed bases/podvirt.io_*.yaml
var Bases embed.FS
