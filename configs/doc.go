// Package configs holds Surge's shipped configuration: the example SFU and
// loadbot YAML, Prometheus scrape config and alert rules, Grafana
// dashboards, the systemd unit and the Kubernetes manifests. It has no
// code; its tests check that those files say what the running code does
// (every metric a query names exists, the alert rules pass promtool's own
// tests, the manifests keep their promises about probes and grace periods).
package configs
