package domainspec

import (
	"fmt"

	"libvirt.org/go/libvirtxml"
)

// Parse reads domain XML back.
func Parse(domainXML string) (*libvirtxml.Domain, error) {
	dom := &libvirtxml.Domain{}
	if err := dom.Unmarshal(domainXML); err != nil {
		return nil, fmt.Errorf("parsing the domain XML: %w", err)
	}
	return dom, nil
}
