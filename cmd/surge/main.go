// Command surge runs and operates a Surge SFU node: `surge serve` starts the
// server, `surge token` mints access tokens, `surge cluster` shows the nodes
// of a multi-node cluster, `surge version` says what was built. Flags,
// files and env are resolved here (viper and cobra live only in cmd/);
// package sfu only ever sees a plain sfu.Config.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	if err := newRootCmd(os.Stdout, os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "surge:", err)
		os.Exit(1)
	}
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "surge",
		Short: "Surge is a WebRTC SFU with simulcast",
		// Errors are printed once, by main; usage only for flag mistakes.
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().String("config", "", "YAML config file, e.g. configs/sfu.yaml (default $SURGE_CONFIG; without either the built-in defaults apply)")
	root.AddCommand(newServeCmd(), newTokenCmd(), newVersionCmd(), newSelftestCmd(), newRoomsCmd(), newClusterCmd())
	return root
}

// configPath is --config, else $SURGE_CONFIG, so a container can name its
// file in the environment like every other setting.
func configPath(cmd *cobra.Command) string {
	if p, _ := cmd.Flags().GetString("config"); p != "" {
		return p
	}
	return os.Getenv("SURGE_CONFIG")
}
