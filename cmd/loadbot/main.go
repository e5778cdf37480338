// Command loadbot puts load on a Surge SFU and reports what users would
// see: `loadbot run` holds a scenario for a duration, `loadbot ramp` grows
// it until an SLO breaks, `loadbot coordinate` and `loadbot agent` run one
// scenario over several processes, `loadbot merge` merges finished reports
// and `loadbot monitor` probes a deployment continuously. Flags, a YAML
// scenario (--config) and LOADBOT_* environment variables are resolved
// here; package loadbot sees a plain loadbot.Config.
//
// Exit codes: 0 SLO met, 1 the run failed (for coordinate: an agent was
// lost), 2 bad usage, 3 SLO breached, 4 a monitor --once probe failed at a
// join stage, 130 interrupted (a partial report is still written).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/surgertc/surge/loadbot"
)

// Exit codes scripts and CI can rely on.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitSLOBreached = 3
	exitInterrupted = 130
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func main() {
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}

func execute(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first Ctrl-C the run winds down with a partial
		// report; a second one kills the process the default way.
		<-ctx.Done()
		stop()
	}()
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintln(stderr, "loadbot:", ee.err)
		}
		return ee.code
	case errors.Is(err, loadbot.ErrConfig):
		fmt.Fprintln(stderr, "loadbot:", err)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "loadbot:", err)
		return exitFailed
	}
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "loadbot",
		Short:         "Load and quality tester for the Surge SFU",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRunCmd(stdout, stderr), newRampCmd(stdout, stderr), newMergeCmd(stdout, stderr),
		newCoordinateCmd(stdout, stderr), newAgentCmd(stdout, stderr), newMonitorCmd(stdout, stderr))
	return root
}

func logger(stderr io.Writer, verbose bool) *slog.Logger {
	lvl := slog.LevelWarn
	if verbose {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
}

// isTerminal reports whether w is a character device: then the progress
// line is rewritten in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
