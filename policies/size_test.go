package policies

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
	admissionv1 "k8s.io/api/admission/v1"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
)

// sizeOf bounds the size of the value at path (from "variables") in the
// compiled policy cp, for the smallest tier.
func sizeOf(t *testing.T, cp *CompiledPolicy, path ...string) (uint64, bool) {
	t.Helper()
	s := &sizeEstimator{objectType: compiler(t).objectType, params: cp.inlineParams, variables: map[string]*sizedExpr{}, steps: maxSizeSteps}
	for _, v := range cp.variables {
		s.variables[v.name] = newSizedExpr(v.expr.checked.NativeRep())
	}
	est := s.pathSize(append([]string{varVariables}, path...))
	if est == nil {
		return 0, false
	}
	return est.Max, true
}

func TestSizeEstimatorFollowsVariables(t *testing.T) {
	p := policyFromYAML(t, `
spec:
  params: {registries: ["registry.example.com/", "q/"]}
  variables:
  - name: images
    expression: >-
      object.spec.?volumes.orValue([]).filter(v, has(v.containerDisk)).map(v, v.containerDisk.image) +
      object.spec.domain.?firmware.?kernelBoot.?container.?image.optMap(i, [i]).orValue([])
  - {name: kernelImages, expression: "object.spec.domain.?firmware.?kernelBoot.?container.?image.optMap(i, [i]).orValue([])"}
  - {name: doubled, expression: "object.spec.domain.?firmware.?kernelBoot.?container.?image.optFlatMap(i, optional.of(i + i)).orValue('')"}
  - {name: none, expression: "optional.none().orValue('abc')"}
  - {name: of, expression: "optional.of('abcd').orValue('')"}
  - {name: conditional, expression: "object.metadata.name == 'x' ? 'ab' : 'abcd'"}
  - {name: bound, expression: "optional.of(['a', 'bb', 'ccc']).optMap(x, x + x).orValue([])"}
  - {name: concatenated, expression: "['a'] + ['bbb'] + params.registries"}
  - {name: mapped, expression: "params.registries.map(r, r + r)"}
  - {name: containerDisks, expression: "object.spec.?volumes.orValue([]).filter(v, has(v.containerDisk))"}
  - {name: names, expression: "variables.containerDisks.map(d, d.name)"}
  - {name: digests, expression: "variables.images.map(i, i + '@sha')"}
  - {name: first, expression: "variables.images[0]"}
  - {name: transformed, expression: "params.registries.transformList(i, r, r)"}
  - {name: entries, expression: "params.registries.transformMapEntry(i, r, {string(r): 1, string(r) + 'x': 2})"}
  - {name: shadowed, expression: "[object.metadata.name].map(params, params)"}
  - {name: mapLiteral, expression: "{'a': 'bcd'}"}
  - {name: cores, expression: "string(object.spec.domain.cpu.cores)"}
  - {name: stamp, expression: "string(timestamp('2020-01-01T00:00:00Z'))"}
  validations: [{expression: "true"}]
`)
	cp, errs := compiler(t).Compile(p)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	s := &sizeEstimator{objectType: compiler(t).objectType}
	object := func(path ...string) uint64 { return s.objectSize(path).Max }
	volumes := object("spec", "volumes")
	diskImage := object("spec", "volumes", "@items", "containerDisk", "image")
	kernelImage := object("spec", "domain", "firmware", "kernelBoot", "container", "image")
	cases := []struct {
		path  string
		want  uint64
		known bool
	}{
		{"images", volumes + 1, true},
		{"images.@items", max(diskImage, kernelImage), true},
		{"kernelImages", 1, true},
		{"kernelImages.@items", kernelImage, true},
		{"doubled", 2 * kernelImage, true},
		{"none", 3, true},
		{"of", 4, true},
		{"conditional", 4, true},
		{"bound", 6, true},
		{"bound.@items", 3, true},
		{"concatenated", 4, true},
		{"concatenated.@items", uint64(len("registry.example.com/")), true},
		{"mapped", 2, true},
		{"mapped.@items", 2 * uint64(len("registry.example.com/")), true},
		{"containerDisks", volumes, true},
		{"containerDisks.@items.containerDisk.image", diskImage, true},
		{"names.@items", object("spec", "volumes", "@items", "name"), true},
		{"digests.@items", max(diskImage, kernelImage) + 4, true},
		{"first", max(diskImage, kernelImage), true},
		{"transformed", 2, true},
		{"transformed.@items", uint64(len("registry.example.com/")), true},
		{"entries", 4, true},
		// The iteration variable is the name, not the params.
		{"shadowed.@items", object("metadata", "name"), true},
		{"mapLiteral.@items", 0, false},
		{"cores", 24, true},
		{"stamp", 35, true},
	}
	for _, tc := range cases {
		got, known := sizeOf(t, cp, strings.Split(tc.path, ".")...)
		if known != tc.known || got != tc.want {
			t.Errorf("%s: size %d (known %v), want %d (known %v)", tc.path, got, known, tc.want, tc.known)
		}
	}
}

func TestAllowedImageRegistriesRunsUntracked(t *testing.T) {
	cp, errs := compiler(t).Compile(readLibraryPolicy(t, "library/allowed-image-registries/policy.yaml"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := cp.untracked[:3]; !got[0] || !got[1] || !got[2] {
		t.Errorf("untracked tiers: %v", cp.untracked)
	}
	for _, c := range cp.Costs() {
		if strings.HasSuffix(c.FieldRef, "messageExpression") {
			continue // runs tracked, on failures only
		}
		if c.Max == math.MaxUint64 || c.MaxSmallObject == math.MaxUint64 || c.ExceedsPerCallLimit {
			t.Errorf("%+v", c)
		}
	}
}

// TestEstimateBoundsRealCost checks that a variable built by a map over a
// range the object sizes keeps the estimate above what an evaluation
// really costs: the policy runs tracked and is stopped at the limit.
func TestEstimateBoundsRealCost(t *testing.T) {
	p := policyFromYAML(t, `
spec:
  variables:
  - {name: keys, expression: "object.metadata.?labels.orValue({}).map(k, k + 'x')"}
  validations:
  - expression: "variables.keys.all(a, !variables.keys.exists(b, b == a + 'y'))"
`)
	cp, errs := compiler(t).Compile(p)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var labels []string
	for i := range 2000 {
		labels = append(labels, fmt.Sprintf(`"l%d":"v"`, i))
	}
	doc := strings.Replace(testVMI, `"labels":{"app":"web"}`, `"labels":{`+strings.Join(labels, ",")+`}`, 1)
	in := NewInputFromObjects(admissionv1.Create, decode(t, doc), nil, nil, nil, nil)
	tier := tierFor(len(doc))
	if cp.untracked[tier] || cp.validations[0].expr.maxCost[tier] <= celconfig.PerCallLimit {
		t.Errorf("tier %d: untracked %v, estimate %d", tier, cp.untracked[tier], cp.validations[0].expr.maxCost[tier])
	}
	// 2000 x 2000 iterations exceed the per-expression limit.
	res := cp.Evaluate(context.Background(), in)
	if res.Outcome != Errored || !strings.Contains(res.Violations[0].Message, "cost limit exceeded") {
		t.Errorf("got %+v", res)
	}
}

// TestTransformMapEntryRunsTracked: each step of transformMapEntry may
// insert many entries, which cel-go's estimate does not count.
func TestTransformMapEntryRunsTracked(t *testing.T) {
	p := policyFromYAML(t, `
spec:
  validations:
  - expression: "object.metadata.?labels.orValue({}).transformMapEntry(k, v, {k: v, k + '1': v, k + '2': v}).all(k, k != '')"
`)
	cp, errs := compiler(t).Compile(p)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if c := cp.Costs()[0]; c.Max != math.MaxUint64 || c.MaxSmallObject != math.MaxUint64 || cp.untracked[0] {
		t.Errorf("%+v, untracked %v", c, cp.untracked)
	}
}

// trackedCosts evaluates, cost-tracked, every variable then every
// validation of cp on obj, and returns their costs and their estimates for
// obj's size tier.
func trackedCosts(t *testing.T, cp *CompiledPolicy, obj *Object) (costs, estimates []uint64) {
	t.Helper()
	in := NewInputFromObjects(admissionv1.Create, obj, nil, nil, nil, nil)
	ev := &evaluation{ctx: context.Background(), policy: cp, tier: in.tier, track: true}
	ev.act = activation{in: in, params: types.NullValue, namespaceVisible: true}
	if cp.inlineParams != nil {
		ev.act.params = cp.inlineParams.Value()
	}
	frame, err := interpreter.NewExecutionFrame(&ev.act)
	if err != nil {
		t.Fatal(err)
	}
	defer frame.Close()
	ev.vars = lazyVariables{ctx: ev.ctx, policy: cp, act: &ev.act, frame: frame, track: true, values: make([]ref.Val, len(cp.variables))}
	ev.act.variables = &ev.vars
	for i, v := range cp.variables {
		before := ev.vars.cost
		if val := ev.vars.resolve(i); types.IsError(val) {
			t.Fatalf("%s: %v", v.name, val)
		}
		costs = append(costs, ev.vars.cost-before)
		estimates = append(estimates, v.expr.maxCost[in.tier])
	}
	for _, v := range cp.validations {
		r := v.expr.eval(ev.ctx, &ev.act, frame, true)
		if r.err != nil {
			t.Fatalf("%s: %v", v.expr.source, r.err)
		}
		costs = append(costs, r.cost)
		estimates = append(estimates, v.expr.maxCost[in.tier])
	}
	return costs, estimates
}

// TestEstimatesBoundTrackedCosts compares estimates with what cel-go's
// cost tracker charges on documents filling their size tier, for
// expressions whose cost depends on the sizes of variables' elements.
func TestEstimatesBoundTrackedCosts(t *testing.T) {
	cp, errs := compiler(t).Compile(policyFromYAML(t, `
spec:
  params: {registries: ["registry.example.com/", "quay.io/podvirt/"], suffix: "-x"}
  variables:
  - name: images
    expression: >-
      object.spec.?volumes.orValue([]).filter(v, has(v.containerDisk)).map(v, v.containerDisk.image) +
      object.spec.domain.?firmware.?kernelBoot.?container.?image.optMap(i, [i]).orValue([])
  - {name: disallowed, expression: "variables.images.filter(i, !params.registries.exists(r, i.startsWith(r)))"}
  - {name: tagged, expression: "variables.images.map(i, i + params.suffix)"}
  - {name: matching, expression: "variables.tagged.filter(t, t.matches('^[a-z0-9./-]+(:[a-z0-9.-]+)?-x$'))"}
  - {name: kernel, expression: "object.spec.domain.?firmware.?kernelBoot.?container.?image.optMap(i, i + i).orValue('')"}
  validations:
  - expression: size(variables.disallowed) >= 0
  - expression: variables.matching.all(m, !m.contains('registry.example.com/aaaa'))
  - expression: variables.kernel.matches('^[a-z]+$') || true
  - expression: variables.images.exists(i, i + i == variables.kernel) || true
`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, tier := range []int{0, 1} {
		// Half the document in container disks, a quarter in the kernel image.
		image := "registry.example.com/" + strings.Repeat("a", int(sizeTiers[tier])/8)
		var volumes []string
		for i := range 4 {
			volumes = append(volumes, fmt.Sprintf(`{"name":"v%d","containerDisk":{"image":%q}}`, i, image))
		}
		doc := fmt.Sprintf(`{"apiVersion":"podvirt.io/v1alpha1","kind":"VirtualMachineInstance",
"metadata":{"name":"vm","namespace":"prod"},
"spec":{"domain":{"firmware":{"kernelBoot":{"container":{"image":%q}}},"memory":{"guest":"2Gi"}},"volumes":[%s]}}`,
			image+image, strings.Join(volumes, ","))
		obj := decode(t, doc)
		if got := tierFor(len(doc)); got != tier {
			t.Fatalf("document of %d bytes in tier %d, want %d", len(doc), got, tier)
		}
		costs, estimates := trackedCosts(t, cp, obj)
		for i := range costs {
			if costs[i] > estimates[i] {
				t.Errorf("tier %d, expression %d: cost %d above its estimate %d", tier, i, costs[i], estimates[i])
			}
		}
		t.Logf("tier %d: costs %v, estimates %v", tier, costs, estimates)
	}
}

// A value read from a VMI of at most N bytes has at most N-2 bytes (a
// string's quotes), a list at most (N-2)/(smallest element + 1) elements
// (a comma each), a map at most (N-2)/(smallest value + 6) entries (a
// quoted key, a colon and a comma each), fewer when the schema says so.
func TestObjectSizeBounds(t *testing.T) {
	s := &sizeEstimator{objectType: compiler(t).objectType}
	cases := []struct {
		path  string
		tiers [2]uint64 // 4 KiB, 16 KiB
	}{
		{"spec.hostname", [2]uint64{4094, 16382}},
		{"spec.tolerations", [2]uint64{4094 / 3, 16382 / 3}},
		{"metadata.labels", [2]uint64{4094 / 8, 16382 / 8}},
		{"metadata.labels.@values", [2]uint64{4094, 16382}},
		{"metadata.labels.app", [2]uint64{4094, 16382}},
		{"spec.volumes", [2]uint64{64, 64}},                  // maxItems
		{"spec.volumes.@items.name", [2]uint64{4094, 16382}}, // a DNS label, not limited by the schema
		{"spec.domain.cpu.model", [2]uint64{256, 256}},       // maxLength 64, up to 4 bytes each
	}
	for _, tc := range cases {
		for tier, want := range tc.tiers {
			s.tier = tier
			if got := s.objectSize(strings.Split(tc.path, ".")); got == nil || got.Max != want {
				t.Errorf("%s, tier %d: %v, want %d", tc.path, tier, got, want)
			}
		}
	}
	if got := s.objectSize([]string{"spec", "nope"}); got != nil {
		t.Errorf("an unknown field: %v", got)
	}
}

// saturatingMul and saturatingAdd stop at the largest uint64.
func TestSaturatingArithmetic(t *testing.T) {
	for _, c := range []struct{ a, b, mul, add uint64 }{
		{3, 5, 15, 8},
		{0, math.MaxUint64, 0, math.MaxUint64},
		{math.MaxUint64, 0, 0, math.MaxUint64},
		{2, math.MaxUint64 / 2, math.MaxUint64 - 1, math.MaxUint64/2 + 2},
		{2, math.MaxUint64/2 + 1, math.MaxUint64, math.MaxUint64/2 + 3},
		{math.MaxUint64, 1, math.MaxUint64, math.MaxUint64},
		{1 << 32, 1 << 32, math.MaxUint64, 1 << 33},
	} {
		if got := saturatingMul(c.a, c.b); got != c.mul {
			t.Errorf("saturatingMul(%d, %d) = %d, want %d", c.a, c.b, got, c.mul)
		}
		if got := saturatingAdd(c.a, c.b); got != c.add {
			t.Errorf("saturatingAdd(%d, %d) = %d, want %d", c.a, c.b, got, c.add)
		}
	}
}

// Sizes through calls: optional selections and indexes, conditionals,
// concatenations, optionals and their defaults, string conversions, keys
// and values of params maps, and comprehensions that build lists or maps.
func TestSizeEstimatorCalls(t *testing.T) {
	p := policyFromYAML(t, `
spec:
  params: {registries: ["registry.example.com/", "q/"], m: {"ab": "xyz", "c": "defgh"}, s: "abcdef", long: "abcdefghijklmnopqrstuvwxyz0123", num: 1, e: ""}
  variables:
  - {name: optSelect, expression: "params.?registries.orValue([])"}
  - {name: optMapDefault, expression: "params.?m.orValue({})"}
  - {name: emptyOrScalar, expression: "params.?e.orValue(1)"}
  - {name: noneDefault, expression: "optional.none().orValue(['abcd'])"}
  - {name: noneList, expression: "optional.none().orValue(params.registries)"}
  - {name: indexed, expression: "params.registries[1]"}
  - {name: mapIndexed, expression: "params.m['c']"}
  - {name: optIndexed, expression: "params.registries[?0].orValue('')"}
  - {name: conditional, expression: "params.num == 1 ? params.s : 'x'"}
  - {name: added, expression: "params.s + params.s"}
  - {name: addedUnknown, expression: "params.s + {'a': 'bcd'}['a']"}
  - {name: value, expression: "optional.of(params.s).value()"}
  - {name: nonZero, expression: "optional.ofNonZeroValue(params.s).orValue('')"}
  - {name: bytes, expression: "string(b'abc')"}
  - {name: uint, expression: "string(1u)"}
  - {name: double, expression: "string(1.5)"}
  - {name: bool, expression: "string(true)"}
  - {name: duration, expression: "string(duration('1s'))"}
  - {name: dynShort, expression: "string(params.s)"}
  - {name: dynLong, expression: "string(params.long)"}
  - {name: keys, expression: "params.m.map(k, k)"}
  - {name: values, expression: "params.m.map(k, params.m[k])"}
  - {name: nested, expression: "params.registries.map(r, [r, r])"}
  - {name: transformMap, expression: "params.registries.transformMap(i, r, r + 'x')"}
  - {name: filtered, expression: "params.registries.filter(r, r.size() > 2)"}
  validations: [{expression: "true"}]
`)
	cp, errs := compiler(t).Compile(p)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	cases := []struct {
		path  string
		want  uint64
		known bool
	}{
		{"optSelect", 2, true},
		{"optSelect.@items", 21, true},
		{"optMapDefault.@values", 5, true},
		{"emptyOrScalar", 1, true}, // the default's size counts
		{"noneDefault", 1, true},
		{"noneDefault.@items", 4, true},
		{"noneList", 2, true},
		{"noneList.@items", 21, true},
		{"indexed", 21, true},
		{"mapIndexed", 5, true},
		{"optIndexed", 21, true},
		{"conditional", 6, true},
		{"added", 12, true},
		{"addedUnknown", 0, false},
		{"value", 6, true},
		{"nonZero", 6, true},
		{"bytes", 3, true},
		{"uint", 24, true},
		{"double", 24, true},
		{"bool", 24, true},
		{"duration", 24, true},
		{"dynShort", 24, true},
		{"dynLong", 30, true},
		{"keys", 2, true},
		{"keys.@items", 2, true},
		{"values.@items", 5, true},
		{"nested", 2, true},
		{"nested.@items", 2, true},
		{"nested.@items.@items", 21, true},
		{"transformMap", 2, true},
		{"transformMap.@items", 0, false},
		{"filtered", 2, true},
		{"filtered.@items", 21, true},
	}
	for _, tc := range cases {
		got, known := sizeOf(t, cp, strings.Split(tc.path, ".")...)
		if known != tc.known || got != tc.want {
			t.Errorf("%s: size %d (known %v), want %d (known %v)", tc.path, got, known, tc.want, tc.known)
		}
	}
}
