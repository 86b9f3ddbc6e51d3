package podvirtctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// Version is what `podvirtctl version` prints: the build as the Go
// toolchain recorded it in the binary.
type Version struct {
	// Module is the main module's path, Version its version: a tag for
	// `go install ...@vX`, "(devel)" for a build from a work tree.
	Module  string `json:"module"`
	Version string `json:"version"`
	// Revision, Time and Modified are the VCS state of a build from a
	// work tree (-buildvcs): commit, commit time, uncommitted changes.
	Revision  string `json:"revision,omitempty"`
	Time      string `json:"time,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform,omitempty"`
}

// BuildVersion reads the running binary's build information.
func BuildVersion() (Version, error) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Version{}, errors.New("this binary carries no build information (built without module support?)")
	}
	return versionOf(bi), nil
}

func versionOf(bi *debug.BuildInfo) Version {
	v := Version{Module: bi.Main.Path, Version: bi.Main.Version, GoVersion: bi.GoVersion}
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	if goos != "" {
		v.Platform = goos + "/" + goarch
	}
	return v
}

func newVersionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print podvirtctl's build: module version, VCS revision, Go version",
		Long: `version prints what the Go toolchain recorded in this binary: the module's
version (a tag when installed with go install ...@vX, "(devel)" from a work
tree) and the VCS revision, time and whether the tree had uncommitted
changes. It talks to no cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := BuildVersion()
			if err != nil {
				return err
			}
			return printVersion(cmd.OutOrStdout(), v, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: one line)")
	return cmd
}

func printVersion(w io.Writer, v Version, output string) error {
	switch output {
	case "":
		line := fmt.Sprintf("podvirtctl %s %s", v.Module, v.Version)
		if v.Revision != "" {
			line += " " + v.Revision
			if v.Modified {
				line += "-dirty"
			}
		}
		if v.Time != "" {
			line += " (" + v.Time + ")"
		}
		_, err := fmt.Fprintf(w, "%s %s %s\n", line, v.GoVersion, v.Platform)
		return err
	case "json":
		out, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", out)
		return err
	case "yaml":
		out, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	return fmt.Errorf("--output %q: want json or yaml (or nothing for one line)", output)
}
