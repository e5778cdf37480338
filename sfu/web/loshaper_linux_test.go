package web_test

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// loShaper plays a weak downlink for one UDP port on lo, the way a
// bottleneck router would: traffic to that destination port goes through an
// HTB class of the given rate into a 15 kB tail-drop FIFO; all other
// traffic on lo passes unclassified (HTB's direct queue), untouched.
//
// It only ever changes a root qdisc it created itself, recognised by a
// handle derived from this process's id, and skips the test when lo
// already has a root qdisc other than the kernel's default. The qdisc is
// removed in t.Cleanup, and, should the test process die without running
// it (a signal, a test timeout's panic, SIGKILL), by a guard process that
// waits for this process to end.
type loShaper struct {
	t      *testing.T
	port   uint16
	handle uint16 // root HTB qdisc handle (major); handle+1 is its bfifo
	guard  *exec.Cmd
	on     bool
}

// newLoShaper checks that this test may shape lo (Linux, root, a working
// tc, no foreign root qdisc) or skips the test saying why. It shapes
// nothing until port and set are called.
func newLoShaper(t *testing.T) *loShaper {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("shaping lo needs Linux tc")
	}
	if os.Geteuid() != 0 {
		t.Skip("shaping lo with tc needs root (CI runs as root): run this test as root")
	}
	if _, err := exec.LookPath("tc"); err != nil {
		t.Skip("no tc (Debian: apt-get install iproute2)")
	}
	s := &loShaper{t: t, handle: 0x8000 | uint16(os.Getpid()&0x3fff)<<1}
	root, err := s.root()
	if err != nil {
		t.Skipf("tc cannot show lo's qdiscs: %v", err)
	}
	if !strings.HasPrefix(root, "qdisc noqueue 0:") {
		t.Skipf("lo already has a root qdisc this test did not create (%q); leaving it alone", root)
	}
	// A trial run (on port 0, which carries nothing) proves HTB, bfifo and
	// u32 work here before the guard and the test depend on them.
	if err := s.set(1000); err != nil {
		t.Skipf("tc cannot shape lo (HTB + bfifo + u32): %v", err)
	}
	if err := s.clear(); err != nil {
		t.Fatalf("remove the trial qdisc: %v", err)
	}
	h := s.hex()
	// The test process counts as gone once it is a zombie too: nobody
	// may be reaping it.
	script := fmt.Sprintf(`alive() { s=$(sed 's/.*) //' /proc/%d/stat 2>/dev/null) && [ "${s%%%% *}" != Z ]; }
while alive; do sleep 1; done
tc qdisc show dev lo root | grep -q '^qdisc htb %s root' && tc qdisc del dev lo root handle %s`, os.Getpid(), h, h)
	s.guard = exec.Command("sh", "-c", script)
	// Its own process group: a Ctrl-C meant for the test must not kill it.
	s.guard.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.guard.Start(); err != nil {
		t.Fatalf("start the qdisc guard: %v", err)
	}
	t.Cleanup(func() {
		if err := s.clear(); err != nil {
			t.Errorf("remove the qdisc on lo: %v", err)
		}
		_ = s.guard.Process.Kill()
		_ = s.guard.Wait()
	})
	return s
}

// shape makes port (a UDP destination port) the one set limits.
func (s *loShaper) shape(port uint16) { s.port = port }

func (s *loShaper) hex() string { return strconv.FormatUint(uint64(s.handle), 16) + ":" }

// root returns the first line tc prints for lo's root qdisc.
func (s *loShaper) root() (string, error) {
	out, err := exec.Command("tc", "qdisc", "show", "dev", "lo", "root").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, out)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line, nil
}

func (s *loShaper) ours() bool {
	root, err := s.root()
	return err == nil && strings.HasPrefix(root, "qdisc htb "+s.hex()+" root")
}

func tc(args ...string) error {
	if out, err := exec.Command("tc", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("tc %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// set limits the port's downlink to kbit/s, installing the qdisc if needed.
func (s *loShaper) set(kbit int) error {
	h := s.hex()
	class := h + "1"
	rate := []string{"rate", fmt.Sprintf("%dkbit", kbit), "ceil", fmt.Sprintf("%dkbit", kbit),
		// One packet of burst: the class sends at its rate, as a link
		// serialises, instead of letting lo's 64 kB MTU through at once.
		"burst", "1600", "cburst", "1600", "quantum", "1514"}
	if s.on {
		if err := tc(append([]string{"class", "change", "dev", "lo", "parent", h, "classid", class, "htb"}, rate...)...); err != nil {
			return err
		}
		return nil
	}
	root, err := s.root()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(root, "qdisc noqueue 0:") {
		return fmt.Errorf("lo has a root qdisc this test did not create (%q)", root)
	}
	// default 0: traffic no filter classifies is sent directly, unshaped.
	if err := tc("qdisc", "add", "dev", "lo", "root", "handle", h, "htb", "default", "0"); err != nil {
		return err
	}
	s.on = true
	steps := [][]string{
		append([]string{"class", "add", "dev", "lo", "parent", h, "classid", class, "htb"}, rate...),
		{"qdisc", "add", "dev", "lo", "parent", class, "handle", strconv.FormatUint(uint64(s.handle+1), 16) + ":", "bfifo", "limit", "15000"},
		{"filter", "add", "dev", "lo", "parent", h, "protocol", "ip", "prio", "1", "u32", "match", "ip", "dport", strconv.Itoa(int(s.port)), "0xffff", "flowid", class},
	}
	for _, st := range steps {
		if err := tc(st...); err != nil {
			_ = s.clear()
			return err
		}
	}
	return nil
}

// stats is what the shaping class passed and dropped so far, as tc says
// ("Sent 217350 bytes 175 pkt (dropped 242, overlimits 174 requeues 0)").
func (s *loShaper) stats() string {
	out, err := exec.Command("tc", "-s", "class", "show", "dev", "lo", "classid", s.hex()+"1").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("tc: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "Sent ") {
			return l
		}
	}
	return strings.TrimSpace(string(out))
}

// clear removes the shaping: the root qdisc, if it is still ours.
func (s *loShaper) clear() error {
	if !s.on {
		return nil
	}
	s.on = false
	if !s.ours() {
		s.t.Logf("lo's root qdisc is no longer the one this test created; leaving it alone")
		return nil
	}
	return tc("qdisc", "del", "dev", "lo", "root", "handle", s.hex())
}
