package plan

import (
	"fmt"
	"slices"
	"testing"
)

func TestRotate(t *testing.T) {
	xs := []string{"a", "b", "c"}
	for r, want := range map[int][]string{0: {"a", "b", "c"}, 1: {"b", "c", "a"}, 2: {"c", "a", "b"}, 3: {"a", "b", "c"}, -1: {"c", "a", "b"}} {
		if got := Rotate(xs, r); !slices.Equal(got, want) {
			t.Errorf("Rotate(%v, %d) = %v, want %v", xs, r, got, want)
		}
	}
	if !slices.Equal(xs, []string{"a", "b", "c"}) {
		t.Errorf("Rotate changed its input: %v", xs)
	}
	if Rotate([]int(nil), 2) != nil {
		t.Error("Rotate(nil) not nil")
	}
}

func TestMake(t *testing.T) {
	blocks := Make([]string{"none", "noop", "podvirt"}, []int{1, 16}, 3)
	var order []string
	var seqs []int
	for _, b := range blocks {
		for _, c := range b.Cells {
			if c.Rep != b.Rep || c.Scenario != b.Scenario {
				t.Fatalf("cell %+v in block %s/%d", c, b.Scenario, b.Rep)
			}
			order = append(order, fmt.Sprintf("%d:%s@%d", c.Rep, c.Scenario, c.C))
			seqs = append(seqs, c.Seq)
		}
	}
	want := []string{
		"0:none@1", "0:none@16", "0:noop@1", "0:noop@16", "0:podvirt@1", "0:podvirt@16",
		"1:noop@16", "1:noop@1", "1:podvirt@16", "1:podvirt@1", "1:none@16", "1:none@1",
		"2:podvirt@1", "2:podvirt@16", "2:none@1", "2:none@16", "2:noop@1", "2:noop@16",
	}
	if !slices.Equal(order, want) {
		t.Errorf("order:\n got %v\nwant %v", order, want)
	}
	for i, s := range seqs {
		if s != i {
			t.Fatalf("seq %d at position %d", s, i)
		}
	}
	// Every scenario comes first once across 3 reps.
	firsts := map[string]bool{}
	for _, b := range blocks {
		if b.Cells[0].Seq%6 == 0 {
			firsts[b.Scenario] = true
		}
	}
	if len(firsts) != 3 {
		t.Errorf("scenarios that ran first in a rep: %v", firsts)
	}
}

func TestParseInts(t *testing.T) {
	got, err := ParseInts(" 1, 16,64,")
	if err != nil || !slices.Equal(got, []int{1, 16, 64}) {
		t.Errorf("ParseInts = %v, %v", got, err)
	}
	for _, s := range []string{"", "1,x", "0", "-4"} {
		if _, err := ParseInts(s); err == nil {
			t.Errorf("ParseInts(%q) did not fail", s)
		}
	}
}

func TestParseNames(t *testing.T) {
	known := []string{"none", "noop", "podvirt-0"}
	if got, err := ParseNames("", known); err != nil || !slices.Equal(got, known) {
		t.Errorf("ParseNames(\"\") = %v, %v", got, err)
	}
	if got, err := ParseNames("noop, none", known); err != nil || !slices.Equal(got, []string{"noop", "none"}) {
		t.Errorf("ParseNames = %v, %v", got, err)
	}
	if _, err := ParseNames("nope", known); err == nil {
		t.Error("unknown name accepted")
	}
}
