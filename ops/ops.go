// Package ops owns what the bank's operators watch the ACS with (issue 16): the Grafana dashboard of
// the service's Prometheus metrics (grafana/acs-dashboard.json) and the Prometheus alert rules for the
// failures a bank must notice (prometheus/alerts.yml, with their promtool unit tests in
// prometheus/alerts_test.yml). The files are embedded so that they can be served or checked from the
// binary; the tests of this package decode the dashboard strictly into Grafana's dashboard model, run
// promtool on the rules, and check that every metric and label their PromQL names is one the service
// registers.
package ops

import _ "embed"

// Dashboard is the Grafana dashboard model (JSON) to import; its ${datasource} variable picks the
// Prometheus data source and $job the scrape job of the ACS processes.
//
//go:embed grafana/acs-dashboard.json
var Dashboard []byte

// AlertRules is the Prometheus rule file (YAML) to load with rule_files.
//
//go:embed prometheus/alerts.yml
var AlertRules []byte
