package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/podvirt/podvirt/test/bench/internal/report"
)

func reportCmd(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	in := fs.String("in", "bench/results.jsonl", "results of loadgen run")
	md := fs.String("md", "bench/report.md", "Markdown report to write")
	png := fs.String("png", "bench/latency.png", "latency chart to write (empty: none)")
	_ = fs.Parse(args)
	res, err := report.Load(*in)
	if err != nil {
		return err
	}
	chart := ""
	if *png != "" {
		var b bytes.Buffer
		if err := report.Chart(&b, res); err != nil {
			return err
		}
		if err := writeFile(*png, b.Bytes()); err != nil {
			return err
		}
		chart, err = filepath.Rel(filepath.Dir(*md), *png)
		if err != nil {
			chart = *png
		}
	}
	var b bytes.Buffer
	if err := report.Markdown(&b, res, chart); err != nil {
		return err
	}
	if err := writeFile(*md, b.Bytes()); err != nil {
		return err
	}
	logf("wrote %s%s from %d cells", *md, map[bool]string{true: " and " + *png, false: ""}[*png != ""], len(res.Cells))
	return nil
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
