package policies

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podvirt/podvirt/crds/v1alpha1"
)

// Cache holds the compiled form of every VMIPolicy, compiled once per
// policy generation. Feed it from a VMIPolicy informer (Upsert, Delete)
// and read the current set on the request path with Set, which never
// compiles. It is safe for concurrent use.
type Cache struct {
	compiler *Compiler

	mu      sync.Mutex
	entries map[types.UID]*CompiledPolicy
	// set is the snapshot Set returns; nil after a change.
	set *PolicySet
}

// NewCache returns an empty cache compiling with compiler.
func NewCache(compiler *Compiler) *Cache {
	return &Cache{compiler: compiler, entries: map[types.UID]*CompiledPolicy{}}
}

// Upsert compiles the policy unless the cache already holds this UID at
// this generation, and returns the compiled policy and its compile errors
// (for the policy's status).
func (c *Cache) Upsert(policy *v1alpha1.VMIPolicy) (*CompiledPolicy, field.ErrorList) {
	c.mu.Lock()
	cached, ok := c.entries[policy.UID]
	c.mu.Unlock()
	if ok && cached.Generation == policy.Generation && cached.Name == policy.Name {
		return cached, cached.errs
	}
	compiled, errs := c.compiler.Compile(policy)
	c.mu.Lock()
	defer c.mu.Unlock()
	if current, ok := c.entries[policy.UID]; ok && current.Generation > compiled.Generation {
		// A newer generation was compiled concurrently: keep it.
		return current, current.errs
	}
	c.entries[policy.UID] = compiled
	c.set = nil
	return compiled, errs
}

// Delete forgets a policy.
func (c *Cache) Delete(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[uid]; ok {
		delete(c.entries, uid)
		c.set = nil
	}
}

// Set returns the current policies as an immutable set. It is cheap: the
// set is rebuilt only after a change.
func (c *Cache) Set() *PolicySet {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.set == nil {
		list := make([]*CompiledPolicy, 0, len(c.entries))
		for _, p := range c.entries {
			list = append(list, p)
		}
		c.set = NewPolicySet(list)
	}
	return c.set
}
