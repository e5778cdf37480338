package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/surgertc/surge/sfu/cluster"
)

func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show the live nodes of a multi-node cluster and the rooms each holds",
		Long: `Read the cluster registry in Redis and print every live node (state,
region, load, signaling URL) and the rooms it holds.

Redis is found like serve finds it: redis.* in --config, SURGE_REDIS_*
environment variables, or the flags below. A node's admin listener serves the
same picture, from that node's point of view, at /debug/cluster.`,
		Example: `  surge cluster --redis.addr 127.0.0.1:6379
  surge cluster --config configs/sfu.yaml --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fc, err := loadConfig(configPath(cmd), cmd.Flags())
			if err != nil {
				return err
			}
			if !fc.Redis.Enabled() {
				return errors.New("redis.addr is not set: give --redis.addr, SURGE_REDIS_ADDR or redis.addr in --config")
			}
			reg, err := cluster.NewRegistry(fc.Redis)
			if err != nil {
				return err
			}
			defer reg.Close()
			nodes, err := reg.Nodes(cmd.Context())
			if err != nil {
				return fmt.Errorf("reading the registry at %s: %w", fc.Redis.Addr, err)
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(nodes)
			}
			return writeClusterTable(cmd.OutOrStdout(), nodes, time.Now())
		},
	}
	var redisFields []configField
	for _, f := range configFields(reflect.ValueOf(defaultFileConfig())) {
		if strings.HasPrefix(f.Key, "redis.") {
			redisFields = append(redisFields, f)
		}
	}
	addConfigFlags(cmd.Flags(), redisFields)
	cmd.Flags().Bool("json", false, "print the nodes as JSON")
	cmd.Flags().SortFlags = false
	return cmd
}

func writeClusterTable(w io.Writer, nodes []cluster.NodeView, now time.Time) error {
	if len(nodes) == 0 {
		_, err := fmt.Fprintln(w, "no live nodes")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tREGION\tHEADROOM\tCPU\tROOMS\tPARTICIPANTS\tPKT/S\tSEEN\tSIGNAL URL")
	for _, n := range nodes {
		region := n.Region
		if region == "" {
			region = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f %%\t%.2f/%d\t%d\t%d\t%.0f\t%s ago\t%s\n",
			n.ID, n.State, region, n.Load.Headroom()*100, n.Load.CPUCores, n.Load.GOMAXPROCS,
			len(n.Rooms), n.Load.Participants, n.Load.PacketsPerSec, now.Sub(n.UpdatedAt).Round(100*time.Millisecond), n.SignalURL)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range nodes {
		if len(n.Rooms) > 0 {
			fmt.Fprintf(w, "\n%s rooms: %s\n", n.ID, strings.Join(n.Rooms, " "))
		}
	}
	return nil
}
