package roomapi

import "testing"

func TestHTTPBase(t *testing.T) {
	for in, want := range map[string]string{
		"ws://127.0.0.1:7880/rtc":     "http://127.0.0.1:7880",
		"wss://sfu.example.com/rtc":   "https://sfu.example.com",
		"http://127.0.0.1:7880":       "http://127.0.0.1:7880",
		"https://sfu.example.com/":    "https://sfu.example.com",
		"https://x.example/surge/rtc": "https://x.example/surge",
	} {
		if got, err := HTTPBase(in); err != nil || got != want {
			t.Errorf("HTTPBase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:7880", "ftp://x/"} {
		if _, err := HTTPBase(bad); err == nil {
			t.Errorf("HTTPBase(%q) accepted", bad)
		}
	}
}
