package sfu

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
)

// labelGoroutine tags the calling goroutine with pprof labels (room, and
// role/track pairs in kv), so CPU and goroutine profiles can be cut by room:
// go tool pprof -tagfocus room=standup. Goroutines it starts afterwards
// inherit the labels (Pion's per-connection goroutines among them). Called
// once at a goroutine's start: it allocates, and the packet path must not.
func labelGoroutine(room string, kv ...string) {
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels(append([]string{"room", room}, kv...)...)))
}

// blockRate remembers the block profile rate: the runtime has no getter.
var blockRate atomic.Int64

// profileRates is the body of /debug/pprof/rates.
type profileRates struct {
	// MutexFraction: on average 1 in this many mutex contention events is
	// recorded in the mutex profile; 0 is off.
	MutexFraction int `json:"mutex_fraction"`
	// BlockRate: one blocking event is sampled per this many nanoseconds
	// spent blocked; 0 is off, 1 records every event.
	BlockRate int `json:"block_rate"`
}

// handleProfileRates reads (GET) or sets (POST ?mutex_fraction=&block_rate=)
// the mutex and block profile rates at run time, so they cost nothing until
// someone investigates contention. The settings are process-wide.
func handleProfileRates(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost, http.MethodPut:
		q := r.URL.Query()
		for name, set := range map[string]func(int){
			"mutex_fraction": func(n int) { runtime.SetMutexProfileFraction(n) },
			"block_rate":     func(n int) { runtime.SetBlockProfileRate(n); blockRate.Store(int64(n)) },
		} {
			v := q.Get(name)
			if v == "" {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				http.Error(w, fmt.Sprintf("%s=%q: want a non-negative integer", name, v), http.StatusBadRequest)
				return
			}
			set(n)
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "GET reads the rates, POST ?mutex_fraction=N&block_rate=N sets them", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(profileRates{MutexFraction: runtime.SetMutexProfileFraction(-1), BlockRate: int(blockRate.Load())})
}
