package sfu

import (
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

func postStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestProfileRatesSwitchAtRunTime: mutex and block profiling are off until
// an operator turns them on over the admin listener, and off again after.
func TestProfileRatesSwitchAtRunTime(t *testing.T) {
	s := startServer(t, nil)
	t.Cleanup(func() { runtime.SetMutexProfileFraction(0); runtime.SetBlockProfileRate(0); blockRate.Store(0) })
	rates := func(body string) profileRates {
		t.Helper()
		var r profileRates
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("rates body %q: %v", body, err)
		}
		return r
	}
	if code, body := httpStatus(t, s.AdminURL()+"/debug/pprof/rates"); code != http.StatusOK || rates(body) != (profileRates{}) {
		t.Fatalf("initial rates: %d %s", code, body)
	}
	code, body := postStatus(t, s.AdminURL()+"/debug/pprof/rates?mutex_fraction=5&block_rate=10000")
	if code != http.StatusOK || rates(body) != (profileRates{MutexFraction: 5, BlockRate: 10000}) {
		t.Fatalf("set rates: %d %s", code, body)
	}
	if got := runtime.SetMutexProfileFraction(-1); got != 5 {
		t.Fatalf("runtime mutex fraction %d after the switch", got)
	}
	for _, p := range []string{"mutex", "block"} {
		if code, body := httpStatus(t, s.AdminURL()+"/debug/pprof/"+p+"?debug=1"); code != http.StatusOK || !strings.Contains(body, "--- "+map[string]string{"mutex": "mutex", "block": "contention"}[p]) {
			t.Fatalf("/debug/pprof/%s: %d %.200s", p, code, body)
		}
	}
	if code, _ := postStatus(t, s.AdminURL()+"/debug/pprof/rates?block_rate=-3"); code != http.StatusBadRequest {
		t.Fatalf("negative rate: HTTP %d", code)
	}
	if code, body := postStatus(t, s.AdminURL()+"/debug/pprof/rates?mutex_fraction=0&block_rate=0"); code != http.StatusOK || rates(body) != (profileRates{}) {
		t.Fatalf("switch off: %d %s", code, body)
	}
}

// TestPacketPathCarriesRoomLabels: the goroutines that move a room's
// packets carry its name as a pprof label, so a CPU profile can be cut by
// room (-tagfocus room=NAME).
func TestPacketPathCarriesRoomLabels(t *testing.T) {
	s := startServer(t, nil)
	audioRoom(t, s, "labelled")
	_, body := httpStatus(t, s.AdminURL()+"/debug/pprof/goroutine?debug=1")
	for _, want := range []string{`"role":"receiver"`, `"role":"downtrack_rtcp"`, `"role":"controller"`} {
		found := false
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, "# labels:") && strings.Contains(line, want) && strings.Contains(line, `"room":"labelled"`) {
				found = true
			}
		}
		if !found {
			t.Errorf("no goroutine labelled room=labelled and %s in the goroutine profile", want)
		}
	}
	if !strings.Contains(body, "readLoop") {
		t.Error("goroutine profile has no Receiver read loop")
	}
}
