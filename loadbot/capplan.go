package loadbot

import "time"

// capPlan is when a capped subscriber asks for less than the top layer
// (Config.Cap): from After past its first video packet it wants layer; For
// later it lifts the cap again (max_layer f). Pure.
type capPlan struct {
	layer      string // "": not capped
	after, dur time.Duration
}

func newCapPlan(c CapConfig) capPlan {
	l := c.Layer
	if l == "" {
		l = "q"
	}
	return capPlan{layer: l, after: c.After, dur: c.For}
}

// want is the max_layer the subscriber should have asked for by now, its
// first video packet having arrived at first; "" while it should not ask.
func (c capPlan) want(first, now time.Time) string {
	if c.layer == "" || first.IsZero() || now.Sub(first) < c.after {
		return ""
	}
	if c.dur > 0 && now.Sub(first) >= c.after+c.dur {
		return "f"
	}
	return c.layer
}
