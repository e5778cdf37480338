package metrics

import (
	"testing"

	"go.uber.org/goleak"
)

// The package starts no goroutines; the tests' burners and HTTP servers
// must not outlive them either.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
