package roomapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client calls the room API of one node. It is a RoomService, so a cluster
// can hand a call to the node that owns the room with a Client for it.
type Client struct {
	// BaseURL is the node's public listener, e.g. https://sfu.example.com
	// (a ws:// or wss:// signaling URL is accepted and converted).
	BaseURL string
	// Token is an admin token (surge token --admin).
	Token string
	// HTTP is the client to use; nil means http.DefaultClient.
	HTTP *http.Client
	// ForwardedBy, when set, sends ForwardedHeader with this node id: the
	// node called answers from its own rooms only (cluster forwarding).
	ForwardedBy string
	// MaxResponse bounds the response body read; 0 means 16 MiB.
	MaxResponse int64
}

var _ RoomService = (*Client)(nil)

// ListRooms implements RoomService.
func (c *Client) ListRooms(ctx context.Context) ([]Room, error) {
	var out roomsResponse
	err := c.do(ctx, http.MethodGet, "rooms", nil, &out)
	return out.Rooms, err
}

// ListParticipants implements RoomService.
func (c *Client) ListParticipants(ctx context.Context, room string) ([]Participant, error) {
	var out participantsResponse
	err := c.do(ctx, http.MethodGet, "rooms/"+url.PathEscape(room)+"/participants", nil, &out)
	return out.Participants, err
}

// RemoveParticipant implements RoomService.
func (c *Client) RemoveParticipant(ctx context.Context, room, identity string) error {
	return c.do(ctx, http.MethodDelete, "rooms/"+url.PathEscape(room)+"/participants/"+url.PathEscape(identity), nil, nil)
}

// MuteTrack implements RoomService.
func (c *Client) MuteTrack(ctx context.Context, room, identity, trackID string, muted bool) (Track, error) {
	var out Track
	path := "rooms/" + url.PathEscape(room) + "/participants/" + url.PathEscape(identity) + "/tracks/" + url.PathEscape(trackID) + "/mute"
	err := c.do(ctx, http.MethodPost, path, muteRequest{Muted: &muted}, &out)
	return out, err
}

// CloseRoom implements RoomService.
func (c *Client) CloseRoom(ctx context.Context, room string) error {
	return c.do(ctx, http.MethodDelete, "rooms/"+url.PathEscape(room), nil, nil)
}

// HTTPBase turns a signaling URL (ws://host:7880/rtc) or a plain base URL
// into the node's HTTP base (http://host:7880).
func HTTPBase(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%q is not a URL like http://127.0.0.1:7880", raw)
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	case "http", "https":
	default:
		return "", fmt.Errorf("%q: want an http(s):// or ws(s):// URL", raw)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/rtc")
	u.RawQuery, u.Fragment = "", ""
	return strings.TrimSuffix(u.String(), "/"), nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	base, err := HTTPBase(c.BaseURL)
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+Prefix+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if c.ForwardedBy != "" {
		req.Header.Set(ForwardedHeader, c.ForwardedBy)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Errorf(CodeUnavailable, "%s unreachable: %v", base, err)
	}
	defer resp.Body.Close()
	limit := c.MaxResponse
	if limit <= 0 {
		limit = 16 << 20
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return Errorf(CodeUnavailable, "reading the response: %v", err)
	}
	if int64(len(data)) > limit {
		return Errorf(CodeInternal, "%s %s: response larger than %d bytes", method, path, limit)
	}
	if resp.StatusCode/100 != 2 {
		var e errorResponse
		if json.Unmarshal(data, &e) == nil && e.Error != nil && e.Error.Code != "" {
			return e.Error
		}
		return Errorf(CodeInternal, "%s %s: HTTP %d: %.200s", method, path, resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return Errorf(CodeInternal, "decoding the response of %s %s: %v", method, path, err)
	}
	return nil
}
