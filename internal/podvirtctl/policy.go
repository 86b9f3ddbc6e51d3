package podvirtctl

import (
	"fmt"
	"io"
	"math"

	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/spf13/cobra"

	"github.com/podvirt/podvirt/policies"
)

// newPolicyCommand returns `podvirtctl policy`: offline tools for
// VMIPolicies.
func newPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Test, lint and export VMIPolicies offline",
	}
	cmd.AddCommand(newPolicyTestCommand(), newPolicyLintCommand(), newPolicyExportVAPCommand())
	return cmd
}

// newPolicyTestCommand returns `policy test DIR...`.
func newPolicyTestCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "test DIR|FILE...",
		Short: "Evaluate policies against VMI manifests and compare with the expected results",
		Long: `test runs every test.yaml under each DIR (or the given test files). A test file
names the policies, parameter objects and namespaces, and lists cases: a VMI
manifest (and an old one for UPDATE) with the expected result of each policy,
pass, fail, skip or error, and optionally message substrings. It exits non-zero
when a result differs, printing what was expected and what came out.
The format is described in policies/library/README.md.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPolicyTest(cmd, args)
		},
	}
}

func runPolicyTest(cmd *cobra.Command, targets []string) error {
	compiler, err := policies.NewCompiler(policies.CompilerOptions{})
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	var sum testSummary
	files := 0
	for _, target := range targets {
		paths, err := findTestFiles(target)
		if err != nil {
			return err
		}
		for _, path := range paths {
			files++
			if err := runTestFile(cmd.Context(), compiler, path, out, &sum); err != nil {
				fmt.Fprintf(out, "FAIL %v\n", err)
				sum.failed++
			}
		}
	}
	if files == 0 {
		return fmt.Errorf("no %s found in %v", TestFileName, targets)
	}
	fmt.Fprintf(out, "%d passed, %d failed\n", sum.passed, sum.failed)
	if sum.failed > 0 {
		return fmt.Errorf("%d policy test case(s) failed", sum.failed)
	}
	return nil
}

// newPolicyLintCommand returns `policy lint FILE...`.
func newPolicyLintCommand() *cobra.Command {
	var maxCost uint64
	cmd := &cobra.Command{
		Use:   "lint FILE...",
		Short: "Compile and type-check VMIPolicies and estimate the cost of their expressions",
		Long: `lint checks each VMIPolicy as the admission webhook would (structure, every
expression compiled and type-checked against the VMI schema) and prints each
expression's worst-case cost. It exits non-zero on any error, and on any
expression whose worst case exceeds --max-cost when it is set.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPolicyLint(cmd.OutOrStdout(), args, maxCost)
		},
	}
	cmd.Flags().Uint64Var(&maxCost, "max-cost", 0, "fail when an expression's worst-case cost for the largest objects exceeds this (0: only report)")
	return cmd
}

func runPolicyLint(out io.Writer, files []string, maxCost uint64) error {
	compiler, err := policies.NewCompiler(policies.CompilerOptions{})
	if err != nil {
		return err
	}
	problems, count := 0, 0
	for _, file := range files {
		loaded, err := readPolicies(file)
		if err != nil {
			fmt.Fprintf(out, "%v\n", err)
			problems++
			continue
		}
		for _, lp := range loaded {
			count++
			if errs := compiler.Validate(lp.policy, nil); len(errs) > 0 {
				problems++
				fmt.Fprintf(out, "%s: VMIPolicy %s: %d error(s)\n", file, lp.policy.Name, len(errs))
				for _, e := range errs {
					fmt.Fprintf(out, "%s\n", indent("ERROR "+e.Error()))
				}
				continue
			}
			compiled, _ := compiler.Compile(lp.policy)
			fmt.Fprintf(out, "%s: VMIPolicy %s: ok\n", file, lp.policy.Name)
			for _, c := range compiled.Costs() {
				fmt.Fprintf(out, "    %s: cost %s (objects up to 16KiB: %s)\n", c.FieldRef, formatCost(c.Max), formatCost(c.MaxSmallObject))
				if c.ExceedsPerCallLimit {
					fmt.Fprintf(out, "    WARNING %s: the worst case for the largest objects exceeds the per-expression limit (%d); such objects would be stopped at run time and the failurePolicy applied\n", c.FieldRef, celconfig.PerCallLimit)
				}
				if maxCost > 0 && c.Max > maxCost {
					problems++
					fmt.Fprintf(out, "    ERROR %s: worst-case cost %s exceeds --max-cost %d\n", c.FieldRef, formatCost(c.Max), maxCost)
				}
			}
		}
	}
	if count == 0 && problems == 0 {
		return fmt.Errorf("no VMIPolicy found in %v", files)
	}
	if problems > 0 {
		return fmt.Errorf("%d problem(s) found", problems)
	}
	return nil
}

func formatCost(c uint64) string {
	if c == math.MaxUint64 {
		return "unbounded"
	}
	return fmt.Sprint(c)
}

// newPolicyExportVAPCommand returns `policy export-vap FILE...`.
func newPolicyExportVAPCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "export-vap FILE...",
		Short: "Print the ValidatingAdmissionPolicy and binding equivalent to each VMIPolicy",
		Long: `export-vap writes, for each VMIPolicy, a ValidatingAdmissionPolicy and a
ValidatingAdmissionPolicyBinding (admissionregistration.k8s.io/v1) that
enforce the same rules on VMIs without podvirt's webhook. Inline params are
substituted into the expressions as CEL literals.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPolicyExportVAP(cmd.OutOrStdout(), args)
		},
	}
}

func runPolicyExportVAP(out io.Writer, files []string) error {
	count := 0
	for _, file := range files {
		loaded, err := readPolicies(file)
		if err != nil {
			return err
		}
		for _, lp := range loaded {
			vap, binding, err := policies.ExportVAP(lp.policy)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			for _, obj := range []any{vap, binding} {
				doc, err := yaml.Marshal(obj)
				if err != nil {
					return fmt.Errorf("%s: encoding: %w", file, err)
				}
				fmt.Fprintf(out, "---\n%s", doc)
			}
			count++
		}
	}
	if count == 0 {
		return fmt.Errorf("no VMIPolicy found in %v", files)
	}
	return nil
}
