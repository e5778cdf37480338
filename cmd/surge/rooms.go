package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/surgertc/surge/sfu/auth"
	"github.com/surgertc/surge/sfu/roomapi"
)

// roomsFlags are shared by every surge rooms subcommand.
type roomsFlags struct {
	url, token, apiKey, apiSecret, caFile string
	json                                  bool
	timeout                               time.Duration
}

func newRoomsCmd() *cobra.Command {
	var rf roomsFlags
	cmd := &cobra.Command{
		Use:   "rooms",
		Short: "Operate live rooms through the room service API (list, participants, remove, mute, close)",
		Long: `Call a node's room service API (docs/api.md) on its public listener.
In a cluster any node answers for every node's rooms.

The admin token is --token if given; otherwise one is minted for five minutes
with the same key choice as surge token (--api-key/--api-secret, else the
configured keys, else the dev key).`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&rf.url, "url", envOr("SURGE_URL", "http://127.0.0.1:7880"), "the node's public URL: http(s)://host:port or its ws(s)://…/rtc signaling URL ($SURGE_URL)")
	pf.StringVar(&rf.token, "token", os.Getenv("SURGE_TOKEN"), "admin token (surge token --admin); default: mint one ($SURGE_TOKEN)")
	pf.StringVar(&rf.apiKey, "api-key", "", "API key to mint the admin token with")
	pf.StringVar(&rf.apiSecret, "api-secret", "", "secret of --api-key")
	pf.StringVar(&rf.caFile, "ca-file", "", "PEM CA bundle to trust for an https:// URL (a private CA or a self-signed certificate)")
	pf.BoolVar(&rf.json, "json", false, "print the API's JSON instead of a table")
	pf.DurationVar(&rf.timeout, "timeout", 10*time.Second, "time limit of the call")

	run := func(f func(ctx context.Context, c *roomapi.Client, out io.Writer) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			c, err := rf.client(configPath(cmd))
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), rf.timeout)
			defer cancel()
			return f(ctx, c, cmd.OutOrStdout())
		}
	}
	list := &cobra.Command{Use: "list", Short: "List the rooms (in a cluster, every node's)", Args: cobra.NoArgs}
	list.RunE = run(func(ctx context.Context, c *roomapi.Client, out io.Writer) error {
		rooms, err := c.ListRooms(ctx)
		if err != nil || rf.json {
			return printJSON(out, rooms, err)
		}
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ROOM\tPARTICIPANTS\tTRACKS\tOPEN FOR\tNODE")
		for _, r := range rooms {
			if r.Unreachable { // listed from the cluster registry: no counts
				fmt.Fprintf(w, "%s\t?\t?\t?\t%s (unreachable)\n", r.Name, r.Node)
				continue
			}
			fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\n", r.Name, r.Participants, r.Tracks, time.Since(r.CreatedAt).Round(time.Second), r.Node)
		}
		return w.Flush()
	})
	parts := &cobra.Command{Use: "participants ROOM", Short: "List a room's participants and their tracks", Args: cobra.ExactArgs(1)}
	parts.RunE = func(cmd *cobra.Command, args []string) error {
		return run(func(ctx context.Context, c *roomapi.Client, out io.Writer) error {
			ps, err := c.ListParticipants(ctx, args[0])
			if err != nil || rf.json {
				return printJSON(out, ps, err)
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "IDENTITY\tID\tJOINED\tTRACKS")
			for _, p := range ps {
				tracks := make([]string, 0, len(p.Tracks))
				for _, t := range p.Tracks {
					s := t.ID + " (" + t.Kind
					if t.Muted {
						s += ", muted"
					}
					tracks = append(tracks, s+")")
				}
				fmt.Fprintf(w, "%s\t%s\t%s ago\t%s\n", p.Identity, p.ID, time.Since(p.JoinedAt).Round(time.Second), strings.Join(tracks, " "))
			}
			return w.Flush()
		})(cmd, args)
	}
	remove := &cobra.Command{Use: "remove ROOM IDENTITY", Short: "Disconnect a participant (it gets leave: removed)", Args: cobra.ExactArgs(2)}
	remove.RunE = func(cmd *cobra.Command, args []string) error {
		return run(func(ctx context.Context, c *roomapi.Client, out io.Writer) error {
			if err := c.RemoveParticipant(ctx, args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(out, "removed %s from %s\n", args[1], args[0])
			return nil
		})(cmd, args)
	}
	var unmute bool
	mute := &cobra.Command{Use: "mute ROOM IDENTITY TRACK", Short: "Stop forwarding a published track (--unmute resumes it)", Args: cobra.ExactArgs(3)}
	mute.Flags().BoolVar(&unmute, "unmute", false, "resume forwarding instead")
	mute.RunE = func(cmd *cobra.Command, args []string) error {
		return run(func(ctx context.Context, c *roomapi.Client, out io.Writer) error {
			t, err := c.MuteTrack(ctx, args[0], args[1], args[2], !unmute)
			if err != nil || rf.json {
				return printJSON(out, t, err)
			}
			fmt.Fprintf(out, "track %s of %s in %s: muted=%v\n", t.ID, args[1], args[0], t.Muted)
			return nil
		})(cmd, args)
	}
	closeCmd := &cobra.Command{Use: "close ROOM", Short: "Disconnect everyone in a room (leave: room_closed) and remove it", Args: cobra.ExactArgs(1)}
	closeCmd.RunE = func(cmd *cobra.Command, args []string) error {
		return run(func(ctx context.Context, c *roomapi.Client, out io.Writer) error {
			if err := c.CloseRoom(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(out, "closed %s\n", args[0])
			return nil
		})(cmd, args)
	}
	cmd.AddCommand(list, parts, remove, mute, closeCmd)
	return cmd
}

func (rf *roomsFlags) client(configPath string) (*roomapi.Client, error) {
	tok := rf.token
	if tok == "" {
		key, secret, err := signingKey(configPath, rf.apiKey, rf.apiSecret)
		if err != nil {
			return nil, err
		}
		if tok, err = auth.Mint(key, secret, auth.Grant{Identity: "surge-cli", Admin: true}, 5*time.Minute, time.Now()); err != nil {
			return nil, err
		}
	}
	hc := &http.Client{}
	if rf.caFile != "" {
		pem, err := os.ReadFile(rf.caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificates in it", rf.caFile)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	return &roomapi.Client{BaseURL: rf.url, Token: tok, HTTP: hc}, nil
}

func printJSON(out io.Writer, v any, err error) error {
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
