package configs

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/surgertc/surge/sfu"
)

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sObject struct {
	Kind     string                `yaml:"kind"`
	Metadata struct{ Name string } `yaml:"metadata"`
	Data     map[string]string     `yaml:"data"`
	Spec     struct {
		Template struct {
			Spec struct {
				HostNetwork                   bool `yaml:"hostNetwork"`
				TerminationGracePeriodSeconds int  `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               struct {
					RunAsNonRoot bool `yaml:"runAsNonRoot"`
				} `yaml:"securityContext"`
				Containers []struct {
					Ports []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
						HostPort      int    `yaml:"hostPort"`
						Protocol      string `yaml:"protocol"`
					} `yaml:"ports"`
					ReadinessProbe probe `yaml:"readinessProbe"`
					LivenessProbe  probe `yaml:"livenessProbe"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// TestKubernetesManifest keeps the manifest's promises: readiness on
// /readyz of the admin port the config sets, a grace period above
// drain_timeout, media UDP on the node's own address.
func TestKubernetesManifest(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("kubernetes", "surge.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	objs := map[string]k8sObject{}
	for {
		var o k8sObject
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		objs[o.Kind+"/"+o.Metadata.Name] = o
	}
	cm, ok := objs["ConfigMap/surge-config"]
	if !ok {
		t.Fatal("no ConfigMap surge-config")
	}
	var cfg struct {
		AdminAddr    string `yaml:"admin_addr"`
		DrainTimeout string `yaml:"drain_timeout"`
		RTC          struct {
			UDPAddr string `yaml:"udp_addr"`
		} `yaml:"rtc"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["sfu.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	drain, err := time.ParseDuration(cfg.DrainTimeout)
	if err != nil {
		t.Fatalf("drain_timeout %q: %v", cfg.DrainTimeout, err)
	}
	ds, ok := objs["DaemonSet/surge"]
	if !ok {
		t.Fatal("no DaemonSet surge")
	}
	pod := ds.Spec.Template.Spec
	if !pod.HostNetwork {
		t.Error("hostNetwork is off: media UDP would not be on the node's address")
	}
	if grace := time.Duration(pod.TerminationGracePeriodSeconds) * time.Second; grace <= drain+5*time.Second {
		t.Errorf("terminationGracePeriodSeconds %v is not above drain_timeout %v (+5s to exit)", grace, drain)
	}
	if !pod.SecurityContext.RunAsNonRoot {
		t.Error("the pod may run as root")
	}
	c := pod.Containers[0]
	ports := map[string]int{}
	udp := false
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
		if p.Protocol == "UDP" && p.ContainerPort == port(t, cfg.RTC.UDPAddr) && p.HostPort == p.ContainerPort {
			udp = true
		}
	}
	if !udp {
		t.Errorf("no UDP port %d on the host for rtc.udp_addr", port(t, cfg.RTC.UDPAddr))
	}
	for name, pr := range map[string]probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		want := map[string]string{"readiness": "/readyz", "liveness": "/healthz"}[name]
		if pr.HTTPGet.Path != want || ports[pr.HTTPGet.Port] != port(t, cfg.AdminAddr) {
			t.Errorf("%s probe %s on port %q (%d), want %s on the admin port %d", name, pr.HTTPGet.Path, pr.HTTPGet.Port, ports[pr.HTTPGet.Port], want, port(t, cfg.AdminAddr))
		}
	}
}

// TestSystemdUnit: the unit verifies, is hardened (systemd's own exposure
// score) and gives the drain time to finish.
func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile("surge.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(data)
	m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\S+)$`).FindStringSubmatch(unit)
	if m == nil {
		t.Fatal("no TimeoutStopSec")
	}
	stop, err := time.ParseDuration(m[1])
	if err != nil || stop <= sfu.DefaultConfig().DrainTimeout {
		t.Errorf("TimeoutStopSec=%s is not above the default drain_timeout %v", m[1], sfu.DefaultConfig().DrainTimeout)
	}
	for _, want := range []string{"ExecReload=/bin/kill -HUP $MAINPID", "KillSignal=SIGTERM", "NoNewPrivileges=yes", "DynamicUser=yes", "ProtectSystem=strict"} {
		if !strings.Contains(unit, want+"\n") {
			t.Errorf("the unit lacks %s", want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found; the static checks passed")
	}
	// verify wants ExecStart's binary to exist; point it at this test binary.
	self, _ := os.Executable()
	tmp := filepath.Join(t.TempDir(), "surge.service")
	if err := os.WriteFile(tmp, []byte(strings.ReplaceAll(unit, "/usr/local/bin/surge", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", tmp).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, _ := exec.Command(analyze, "security", "--offline=yes", tmp).CombinedOutput()
	ms := regexp.MustCompile(`Overall exposure level for surge.service: ([0-9.]+)`).FindSubmatch(out)
	if ms == nil {
		t.Fatalf("systemd-analyze security said:\n%s", out)
	}
	if score, _ := strconv.ParseFloat(string(ms[1]), 64); score > 2.5 {
		t.Errorf("exposure level %.1f; keep the unit at 2.5 or below", score)
	}
}
