package loadbot

import (
	"testing"
	"time"
)

func TestCapPlan(t *testing.T) {
	first := ms(1000)
	for _, tc := range []struct {
		name  string
		plan  capPlan
		first time.Time
		at    int // ms
		want  string
	}{
		{"not capped", capPlan{}, first, 5000, ""},
		{"before any video", newCapPlan(CapConfig{Share: 1}), time.Time{}, 5000, ""},
		{"capped to q at once by default", newCapPlan(CapConfig{Share: 1}), first, 1000, "q"},
		{"waits for After", newCapPlan(CapConfig{Layer: "h", After: 2 * time.Second}), first, 2999, ""},
		{"capped after After", newCapPlan(CapConfig{Layer: "h", After: 2 * time.Second}), first, 3000, "h"},
		{"kept without For", newCapPlan(CapConfig{Layer: "q", After: time.Second}), first, 100000, "q"},
		{"still capped just before For ends", newCapPlan(CapConfig{Layer: "q", After: time.Second, For: 5 * time.Second}), first, 6999, "q"},
		{"lifted once For is over", newCapPlan(CapConfig{Layer: "q", After: time.Second, For: 5 * time.Second}), first, 7000, "f"},
	} {
		if got := tc.plan.want(tc.first, ms(tc.at)); got != tc.want {
			t.Errorf("%s: want() = %q, want %q", tc.name, got, tc.want)
		}
	}
}
