package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/surgertc/surge/sfu/auth"
)

func newTokenCmd() *cobra.Command {
	var (
		g                 auth.Grant
		ttl               time.Duration
		apiKey, apiSecret string
	)
	cmd := &cobra.Command{
		Use:   "token --room R --identity I | token --admin [--room R]",
		Short: "Mint an access token (prints only the JWT)",
		Long: `Mint an access token for one identity in one room and print only the JWT,
so that scripts can use $(surge token ...).

The signing key is --api-key/--api-secret if given; otherwise the configured
keys (--config, SURGE_KEYS) — --api-key alone picks one of them; otherwise the
built-in dev key, which only a server without configured keys accepts.

--admin mints a token for the room service API (surge rooms, docs/api.md)
instead of a join: for every room, or with --room for that one only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := configPath(cmd)
			key, secret, err := signingKey(path, apiKey, apiSecret)
			if err != nil {
				return err
			}
			if key == auth.DevAPIKey {
				fmt.Fprintln(cmd.ErrOrStderr(), "surge: signing with the built-in dev key (no keys configured)")
			}
			if g.Admin {
				// An admin token is for the API, not for joining.
				g.CanPublish, g.CanSubscribe = false, false
				if g.Identity == "" {
					g.Identity = "admin"
				}
			} else if g.Room == "" || g.Identity == "" {
				return errors.New("--room and --identity are required (or --admin for a room API token)")
			}
			tok, err := auth.Mint(key, secret, g, ttl, time.Now())
			if err != nil {
				return fmt.Errorf("minting: %w (set --room and --identity)", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&g.Room, "room", "", "room the token grants (required, except with --admin)")
	f.StringVar(&g.Identity, "identity", "", "participant identity, unique in the room (required, except with --admin)")
	f.BoolVar(&g.Admin, "admin", false, "mint a room service API token (surge rooms) for every room, or --room only")
	f.DurationVar(&ttl, "ttl", 24*time.Hour, "validity from now")
	f.BoolVar(&g.CanPublish, "publish", true, "may publish tracks")
	f.BoolVar(&g.CanSubscribe, "subscribe", true, "may subscribe to tracks")
	f.StringVar(&g.Region, "region", "", "preferred region for the room's placement in a multi-node cluster (optional)")
	f.StringVar(&apiKey, "api-key", "", "API key to sign with (default: the configured one, else the dev key)")
	f.StringVar(&apiSecret, "api-secret", "", "secret of --api-key (default: looked up in the configured keys)")
	return cmd
}

// signingKey picks the key the way a server with the same configuration
// would verify it, so a token minted next to a server works against it.
func signingKey(configPath, apiKey, apiSecret string) (string, string, error) {
	if apiKey != "" && apiSecret != "" {
		return apiKey, apiSecret, nil
	}
	if apiSecret != "" {
		return "", "", errors.New("--api-secret needs --api-key")
	}
	fc, err := loadConfig(configPath, nil)
	if err != nil {
		return "", "", err
	}
	keys := fc.Keys
	if apiKey != "" {
		if s, ok := keys[apiKey]; ok {
			return apiKey, s, nil
		}
		if apiKey == auth.DevAPIKey && len(keys) == 0 {
			return auth.DevAPIKey, auth.DevAPISecret, nil
		}
		return "", "", fmt.Errorf("API key %q is not configured; pass --api-secret too", apiKey)
	}
	switch len(keys) {
	case 0:
		return auth.DevAPIKey, auth.DevAPISecret, nil
	case 1:
		for k, s := range keys {
			return k, s, nil
		}
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	return "", "", fmt.Errorf("%d keys are configured (%s); choose one with --api-key", len(keys), strings.Join(names, ", "))
}
