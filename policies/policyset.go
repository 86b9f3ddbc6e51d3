package policies

import (
	"context"
	"sort"

	"github.com/google/cel-go/common/types/ref"
)

// PolicySet is an immutable set of compiled policies, evaluated together
// for each request. Build a new one when policies change (see Cache).
type PolicySet struct {
	policies []*CompiledPolicy
	byName   map[string]*CompiledPolicy
	// maxVariables is the largest number of variables of a policy.
	maxVariables int
}

// NewPolicySet returns a set of policies, ordered by name so that the
// first denial is deterministic.
func NewPolicySet(policies []*CompiledPolicy) *PolicySet {
	s := &PolicySet{policies: append([]*CompiledPolicy(nil), policies...), byName: make(map[string]*CompiledPolicy, len(policies))}
	sort.Slice(s.policies, func(i, j int) bool { return s.policies[i].Name < s.policies[j].Name })
	for _, p := range s.policies {
		s.byName[p.Name] = p
		s.maxVariables = max(s.maxVariables, len(p.variables))
	}
	return s
}

// Policies returns the policies of the set, by name.
func (s *PolicySet) Policies() []*CompiledPolicy { return s.policies }

// Evaluate evaluates every policy against the request, in name order,
// appending the results of the policies that apply to out (which may be
// nil, or a reused buffer).
func (s *PolicySet) Evaluate(ctx context.Context, in *Input, out []PolicyResult) []PolicyResult {
	ev := &evaluation{values: make([]ref.Val, 0, s.maxVariables)}
	for _, p := range s.policies {
		if r := p.evaluate(ctx, in, ev); r.Outcome != Skipped {
			out = append(out, r)
		}
	}
	return out
}

// Decide combines results of this set's policies (see Decide).
func (s *PolicySet) Decide(results []PolicyResult) Verdict { return Decide(results, s.byName) }

// Policy returns the policy of that name in the set, or nil.
func (s *PolicySet) Policy(name string) *CompiledPolicy { return s.byName[name] }
