package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/surgertc/surge/loadbot"
	"github.com/surgertc/surge/loadbot/report"
)

func newMergeCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "merge REPORT.json REPORT.json...",
		Short: "Merge the JSON reports of loadbot processes that ran one scenario into one report",
		Long: `merge reads finished JSON reports (loadbot run --json) of processes that ran
one scenario, or parts of it, and writes one report: rooms of the same name are
one room, and every figure is recomputed from the reports' raw data, so the
percentiles are those of all samples together. A bot found in two reports is an
error (the same file given twice). The exit status is that of the merged SLO
verdict (3 when breached).`,
		Example: `  loadbot merge host1.json host2.json --json merged.json --html merged.html`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reps := make([]report.Report, len(args))
			for i, path := range args {
				data, err := os.ReadFile(path)
				if err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				if err := json.Unmarshal(data, &reps[i]); err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", path, err)}
				}
			}
			merged, err := report.Merge(reps, args)
			if err != nil {
				return fmt.Errorf("%w: %v", loadbot.ErrConfig, err)
			}
			fs := cmd.Flags()
			if err := writeReports(fs, stdout, humanOut(fs, stdout, stderr), merged, nil); err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			if !merged.Summary.SLO.Passed {
				return &exitError{code: exitSLOBreached}
			}
			return nil
		},
	}
	cmd.Flags().String("json", "", "write the merged JSON report to this file (- for stdout)")
	cmd.Flags().String("html", "", "write the merged HTML report to this file")
	return cmd
}
