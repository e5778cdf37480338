package roomapi

import (
	"context"
	"net/http"
	"strings"
)

// ForwardedHeader marks a request one node of a cluster sent to another on
// behalf of its caller; its value is the sending node's id. A node answers
// such a request from its own rooms only, so a call is forwarded at most
// once however stale either node's view of the cluster is. A caller who
// sets it by hand gains nothing: the token is checked all the same.
const ForwardedHeader = "Surge-Forwarded-By"

// Call is what a RoomService may need of the HTTP request behind a call: a
// cluster service forwards the caller's token and honours ForwardedHeader.
type Call struct {
	// Token is the caller's bearer token, already verified by the handler.
	Token string
	// ForwardedBy is the id of the node that forwarded the request; empty
	// when the caller came straight to this node.
	ForwardedBy string
}

type callKey struct{}

// WithCall returns ctx carrying c.
func WithCall(ctx context.Context, c Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// CallFrom returns the Call of ctx; the zero Call outside the handler.
func CallFrom(ctx context.Context) Call {
	c, _ := ctx.Value(callKey{}).(Call)
	return c
}

func callOf(r *http.Request) Call {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return Call{Token: strings.TrimSpace(tok), ForwardedBy: r.Header.Get(ForwardedHeader)}
}
