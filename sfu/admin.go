package sfu

import (
	"crypto/subtle"
	"net/http"
	"os"
	"strings"
)

// requireToken guards the admin endpoints with a bearer token when one is
// configured. /healthz and /readyz stay open: load balancers probe them
// without credentials, and they reveal nothing.
func requireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="surge admin"`)
			http.Error(w, "admin endpoints need Authorization: Bearer <admin.token>", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// maskedCmdline replaces pprof's /debug/pprof/cmdline, which prints the
// command line as is: a secret passed as a flag would be readable by anyone
// who reaches the admin listener.
func maskedCmdline(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(strings.Join(maskArgs(os.Args), "\x00")))
}

// maskArgs hides the values of flags whose names suggest a secret, in both
// --flag=value and --flag value spellings.
func maskArgs(args []string) []string {
	out := make([]string, len(args))
	maskNext := false
	for i, a := range args {
		switch {
		case maskNext:
			out[i] = "***"
			maskNext = false
		case strings.HasPrefix(a, "-"):
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !secretFlag(name) {
				out[i] = a
			} else if hasValue {
				out[i] = a[:strings.Index(a, "=")+1] + "***"
			} else {
				out[i] = a
				maskNext = true
			}
		default:
			out[i] = a
		}
	}
	return out
}

func secretFlag(name string) bool {
	name = strings.ToLower(name)
	for _, s := range []string{"key", "secret", "token", "password", "credential"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}
