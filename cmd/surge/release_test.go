package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/surgertc/surge/sfu/auth"
	"github.com/surgertc/surge/sfu/roomapi"
)

const releaseVersion = "v0.0.0-releasetest"

// TestReleaseAndContainer builds what `make release` ships, checks that the
// binaries are static, for the right machine and say their version, then
// builds the FROM-scratch image from them and runs it.
func TestReleaseAndContainer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds release binaries and an image; not in -short")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not found")
	}
	repo, _ := filepath.Abs(filepath.Join("..", ".."))
	dist := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	mk := exec.CommandContext(ctx, "make", "-C", repo, "release", "DIST="+dist, "VERSION="+releaseVersion, "RELEASE_CMDS=surge")
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}
	for arch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		bin := filepath.Join(dist, "linux_"+arch, "surge")
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		if f.Machine != machine {
			t.Errorf("%s is for %v", bin, f.Machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s has a program interpreter: not static", bin)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("%s links %v: not static", bin, libs)
		}
		f.Close()
	}
	checkSums(t, dist)
	if runtime.GOARCH == "amd64" {
		out, err := exec.Command(filepath.Join(dist, "linux_amd64", "surge"), "version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "surge "+releaseVersion) || !strings.Contains(string(out), "pion/webrtc v3.") {
			t.Fatalf("surge version: %v\n%s", err, out)
		}
		t.Run("container", func(t *testing.T) { testContainer(t, repo, dist) })
	}
}

func checkSums(t *testing.T, dist string) {
	t.Helper()
	f, err := os.Open(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, _ := strings.Cut(sc.Text(), "  ")
		data, err := os.ReadFile(filepath.Join(dist, name))
		if err != nil {
			t.Fatal(err)
		}
		if h := sha256.Sum256(data); hex.EncodeToString(h[:]) != sum {
			t.Errorf("SHA256SUMS disagrees with %s", name)
		}
		n++
	}
	if n != 2 {
		t.Errorf("SHA256SUMS lists %d archives, want 2 (linux amd64, arm64)", n)
	}
}

// podman runs podman against storage of the test's own, so nothing of the
// machine's images or containers is touched.
type podman struct {
	t                  *testing.T
	store, runtimePath string
}

func (p podman) cmd(tool string, args ...string) *exec.Cmd {
	base := []string{"--root", filepath.Join(p.store, "root"), "--runroot", filepath.Join(p.store, "run"), "--storage-driver", "vfs"}
	if tool == "podman" {
		base = append(base, "--tmpdir", filepath.Join(p.store, "tmp"), "--cgroup-manager", "cgroupfs", "--events-backend", "file")
		if p.runtimePath != "" {
			base = append(base, "--runtime", p.runtimePath)
		}
	}
	return exec.Command(tool, append(base, args...)...)
}

func (p podman) run(tool string, args ...string) string {
	p.t.Helper()
	out, err := p.cmd(tool, args...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testContainer builds the image with buildah and runs it with podman.
//
// On this machine kind two defaults of podman fail and are overridden:
// crun refuses the host's hybrid cgroup layout ("cgroups in hybrid mode not
// supported"), so runc is the runtime; and the default rlimits (nofile
// 1048576) exceed the sandbox's hard limits while CAP_SYS_RESOURCE is not
// held, so the container gets explicit --ulimit values below them.
func testContainer(t *testing.T, repo, dist string) {
	var missing []string
	for _, tool := range []string{"buildah", "podman", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("%s not installed (apt-get install buildah podman runc)", strings.Join(missing, ", "))
		if os.Getenv("SURGE_REQUIRE_CONTAINER") == "1" {
			t.Fatal(msg + " and SURGE_REQUIRE_CONTAINER=1")
		}
		t.Skip(msg)
	}
	runc, _ := exec.LookPath("runc")
	store, err := os.MkdirTemp("", "surge-ct")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(store) })
	pm := podman{t: t, store: store, runtimePath: runc}

	// The build context is what the Dockerfile may use: dist/ only.
	bctx := filepath.Join(store, "context")
	for _, f := range []string{"linux_amd64/surge", "ca-certificates.crt"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(bctx, "dist", f)), 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dist, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bctx, "dist", f), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	image := "localhost/surge:" + releaseVersion
	pm.run("buildah", "bud", "--platform", "linux/amd64", "--build-arg", "TARGETARCH=amd64", "-f", filepath.Join(repo, "Dockerfile"), "-t", image, bctx)
	// FROM scratch: no shell to run, only the binary.
	if out, err := pm.cmd("podman", "run", "--rm", "--network", "none", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096", "--entrypoint", "/bin/sh", image, "-c", "true").CombinedOutput(); err == nil {
		t.Errorf("the image has a shell: not FROM scratch\n%s", out)
	}
	if out := pm.run("podman", "run", "--rm", "--network", "none", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096", image, "version"); !strings.Contains(out, "surge "+releaseVersion) {
		t.Errorf("surge version in the image: %s", out)
	}

	pub, adm, udp := freePort(t, "tcp"), freePort(t, "tcp"), freePort(t, "udp")
	const key, secret = "APIcontainer", "container-test-secret"
	name := fmt.Sprintf("surge-test-%d", os.Getpid())
	pm.run("podman", "run", "-d", "--name", name, "--network", "host",
		"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
		"-e", "SURGE_KEYS="+key+":"+secret,
		"-e", fmt.Sprintf("SURGE_LISTEN_ADDR=127.0.0.1:%d", pub),
		"-e", fmt.Sprintf("SURGE_ADMIN_ADDR=127.0.0.1:%d", adm),
		"-e", fmt.Sprintf("SURGE_RTC_UDP_ADDR=127.0.0.1:%d", udp),
		"-e", "SURGE_DRAIN_TIMEOUT=2s",
		image)
	t.Cleanup(func() { _ = pm.cmd("podman", "rm", "-f", "-t", "0", name).Run() })

	admin := fmt.Sprintf("http://127.0.0.1:%d", adm)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			logs, _ := pm.cmd("podman", "logs", name).CombinedOutput()
			t.Fatalf("the container's /readyz never answered 200: %v\n%s", err, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf(`surge_build_info{go=%q,pion="v3.3.6",version=%q} 1`, runtime.Version(), releaseVersion)
	if !strings.Contains(string(body), want) {
		t.Errorf("the container's /metrics lacks %s", want)
	}
	tok, _ := auth.Mint(key, secret, auth.Grant{Identity: "ct", Admin: true}, time.Minute, time.Now())
	c := &roomapi.Client{BaseURL: fmt.Sprintf("http://127.0.0.1:%d", pub), Token: tok}
	if rooms, err := c.ListRooms(context.Background()); err != nil || len(rooms) != 0 {
		t.Errorf("room API in the container: %v, %v", rooms, err)
	}

	// podman stop sends SIGTERM: the server drains and exits 0.
	pm.run("podman", "stop", "-t", "20", name)
	if code := pm.run("podman", "inspect", "--format", "{{.State.ExitCode}}", name); code != "0" {
		logs, _ := pm.cmd("podman", "logs", name).CombinedOutput()
		t.Fatalf("exit code %s after SIGTERM\n%s", code, logs)
	}
	if logs, _ := pm.cmd("podman", "logs", name).CombinedOutput(); !strings.Contains(string(logs), "draining") || !strings.Contains(string(logs), "stopped") {
		t.Errorf("logs show no drain:\n%s", logs)
	}
}
