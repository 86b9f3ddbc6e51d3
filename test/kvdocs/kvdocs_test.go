package kvdocs

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseRefusesAMalformedDefault(t *testing.T) {
	for _, line := range []string{
		"# default: spec.a",                                    // no value
		"# default: spec.a = q35",                              // not JSON
		"# default: spec.a = 1\n# podvirt default: spec.a = 2", // twice
	} {
		if _, err := Parse([]byte(line)); err == nil {
			t.Errorf("%q: parsed", line)
		}
	}
}

func TestCheck(t *testing.T) {
	h, err := Parse([]byte(strings.Join([]string{
		`# default: spec.domain.machine.type = "q35"`,
		`# podvirt default: spec.terminationGracePeriodSeconds = 30`,
		`# kubevirt only: spec.architecture (amd64)`,
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	before := `{"spec":{"domain":{"machine":{}}}}`
	for _, c := range []struct {
		after string
		want  []string
	}{
		{`{"spec":{"domain":{"machine":{"type":"q35"}},"terminationGracePeriodSeconds":30}}`, nil},
		{`{"spec":{"domain":{"machine":{"type":"pc"}},"terminationGracePeriodSeconds":30}}`,
			[]string{`spec.domain.machine.type: defaulted to "pc", expected "q35"`}},
		{`{"spec":{"domain":{"machine":{}},"terminationGracePeriodSeconds":30}}`,
			[]string{`spec.domain.machine.type: expected the default "q35", but admission left it unchanged`}},
		{`{"spec":{"domain":{"machine":{"type":"q35"}},"terminationGracePeriodSeconds":30,"architecture":"amd64"}}`,
			[]string{`spec.architecture: admission set "amd64", where only KubeVirt sets one (amd64)`}},
		{`{"spec":{"domain":{},"terminationGracePeriodSeconds":30}}`,
			[]string{`spec.domain.machine.type: expected the default "q35", but admission left it unchanged`,
				`spec.domain.machine: admission set <removed>, which no default line of the file expects`,
				`spec.domain: admission set {}, which no default line of the file expects`}},
	} {
		changed, err := Changes([]byte(before), []byte(c.after))
		if err != nil {
			t.Fatal(err)
		}
		if got := Check(h, changed); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.after, got, c.want)
		}
	}
}

func ExampleCheck() {
	manifest := []byte(`# default: spec.domain.devices.disks[0].disk.bus = "sata"
spec: ...`)
	h, _ := Parse(manifest)
	changed, _ := Changes(
		[]byte(`{"spec":{"domain":{"devices":{"disks":[{"name":"root"}]}}}}`),
		[]byte(`{"spec":{"domain":{"devices":{"disks":[{"name":"root","disk":{"bus":"virtio"}}]}}}}`))
	fmt.Println(Check(h, changed))
	// Output: [spec.domain.devices.disks[0].disk.bus: defaulted to "virtio", expected "sata"]
}
