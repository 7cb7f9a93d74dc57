package ops_test

// The dashboard is Grafana's classic JSON model (schemaVersion 39), the one every Grafana imports from a
// file or provisioning; the SDK marks its type deprecated in favour of the v2 resource format of
// Grafana 12, which older Grafanas cannot read.
//lint:file-ignore SA1019 the classic dashboard model is the format shipped, on purpose

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	grafanaprom "github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"example.com/acs/acs"
	"example.com/acs/hsm"
	"example.com/acs/ops"
	"example.com/acs/push"
	"example.com/acs/server"
	"example.com/acs/sms"
	"example.com/acs/store"
)

// panel is one dashboard panel decoded strictly, with its options and queries in their typed models.
type panel struct {
	*dashboard.Panel
	options any // *stat.Options or *timeseries.Options
	queries []*grafanaprom.Dataquery
}

// decodeDashboard decodes the dashboard strictly into the typed model of the Grafana Foundation SDK
// (strictDashboard) and returns its panels with their options and queries.
func decodeDashboard(t *testing.T) (*dashboard.Dashboard, []panel) {
	t.Helper()
	d, panels, err := strictDashboard(ops.Dashboard)
	if err != nil {
		t.Fatalf("dashboard does not decode strictly:\n%v", err)
	}
	return d, panels
}

// strictDashboard decodes a dashboard strictly: an unknown field, a missing required one or a wrong
// type anywhere (the panel options and field config of the registered panel types, the Prometheus
// queries) is an error, and so is a failed Validate. The SDK's decoders (v0.0.22) return an empty error
// list as a non-nil error: they report every real error, but drop the panels, options and queries that
// decoded well. So the dashboard is decoded whole, for the errors, and its panels, their options and
// queries once more one by one, for the values.
func strictDashboard(b []byte) (*dashboard.Dashboard, []panel, error) {
	plugins.RegisterDefaultPlugins()
	var d dashboard.Dashboard
	if err := sdkError(d.UnmarshalJSONStrict(b)); err != nil {
		return nil, nil, err
	}
	if err := sdkError(d.Validate()); err != nil {
		return nil, nil, fmt.Errorf("validate: %w", err)
	}
	var raw struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, nil, err
	}
	var panels []panel
	for i, rp := range raw.Panels {
		var r struct {
			Type        string            `json:"type"`
			Options     json.RawMessage   `json:"options"`
			FieldConfig json.RawMessage   `json:"fieldConfig"`
			Targets     []json.RawMessage `json:"targets"`
		}
		if err := json.Unmarshal(rp, &r); err != nil {
			return nil, nil, fmt.Errorf("panels[%d]: %w", i, err)
		}
		p := panel{Panel: &dashboard.Panel{}}
		// Sets the panel's own fields (id, title, datasource...); options and targets follow.
		if err := sdkError(p.Panel.UnmarshalJSONStrict(rp)); err != nil {
			return nil, nil, fmt.Errorf("panels[%d]: %w", i, err)
		}
		var err error
		switch r.Type {
		case "stat":
			o := &stat.Options{}
			err, p.options = sdkError(o.UnmarshalJSONStrict(r.Options)), o
		case "timeseries":
			o := &timeseries.Options{}
			err, p.options = sdkError(o.UnmarshalJSONStrict(r.Options)), o
			var fc struct {
				Defaults struct {
					Custom json.RawMessage `json:"custom"`
				} `json:"defaults"`
			}
			if err == nil && json.Unmarshal(r.FieldConfig, &fc) == nil && fc.Defaults.Custom != nil {
				err = sdkError((&timeseries.FieldConfig{}).UnmarshalJSONStrict(fc.Defaults.Custom))
			}
		}
		if err != nil {
			return nil, nil, fmt.Errorf("panels[%d] options or field config: %w", i, err)
		}
		for j, rt := range r.Targets {
			q := &grafanaprom.Dataquery{}
			if err := sdkError(q.UnmarshalJSONStrict(rt)); err != nil {
				return nil, nil, fmt.Errorf("panels[%d].targets[%d]: %w", i, j, err)
			}
			p.queries = append(p.queries, q)
		}
		panels = append(panels, p)
	}
	return &d, panels, nil
}

// sdkError is err, or nil for the empty cog.BuildErrors that the SDK's functions return, as a non-nil
// error, when all is well.
func sdkError(err error) error {
	var errs cog.BuildErrors
	if errors.As(err, &errs) && len(errs) == 0 {
		return nil
	}
	return err
}

func TestDashboardSchema(t *testing.T) {
	d, panels := decodeDashboard(t)
	if d.Uid == nil || *d.Uid == "" || d.Title == nil || *d.Title == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d: want 39 or later", d.SchemaVersion)
	}
	var hasDatasource bool
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == dashboard.VariableTypeDatasource &&
			v.Query != nil && v.Query.String != nil && *v.Query.String == "prometheus" {
			hasDatasource = true
		}
	}
	if !hasDatasource {
		t.Error("the dashboard needs a datasource variable of type prometheus named datasource")
	}
	if len(panels) == 0 {
		t.Fatal("the dashboard has no panels")
	}
	ids := map[uint32]string{}
	for i, p := range panels {
		name := fmt.Sprintf("panels[%d]", i)
		if p.Title == nil || strings.TrimSpace(*p.Title) == "" {
			t.Errorf("%s has no title", name)
		} else {
			name += " " + strconv.Quote(*p.Title)
		}
		if p.Id == nil {
			t.Errorf("%s has no id", name)
		} else if other, dup := ids[*p.Id]; dup {
			t.Errorf("%s has the id %d of %s", name, *p.Id, other)
		} else {
			ids[*p.Id] = name
		}
		if p.Description == nil || len(*p.Description) < 40 {
			t.Errorf("%s needs a description that says what an operator reads from it", name)
		}
		if g := p.GridPos; g == nil || g.W == 0 || g.H == 0 || g.X+g.W > 24 {
			t.Errorf("%s needs a gridPos within the 24 columns", name)
		} else {
			for _, q := range panels[:i] {
				if o := q.GridPos; o != nil && g.X < o.X+o.W && o.X < g.X+g.W && g.Y < o.Y+o.H && o.Y < g.Y+g.H {
					t.Errorf("%s overlaps %q", name, deref(q.Title))
				}
			}
		}
		if p.Type != "stat" && p.Type != "timeseries" || p.options == nil {
			t.Errorf("%s is of type %q: want stat or timeseries, with options", name, p.Type)
		}
		if !promDatasource(p.Datasource) {
			t.Errorf("%s: datasource must be the ${datasource} Prometheus variable", name)
		}
		if len(p.queries) == 0 {
			t.Errorf("%s has no targets", name)
		}
		refs := map[string]bool{}
		for j, q := range p.queries {
			if strings.TrimSpace(q.Expr) == "" {
				t.Errorf("%s targets[%d] has no expr", name, j)
			}
			if !promDatasource(q.Datasource) {
				t.Errorf("%s targets[%d]: datasource must be the ${datasource} Prometheus variable", name, j)
			}
			if q.RefId == nil || refs[*q.RefId] {
				t.Errorf("%s targets[%d] needs a refId of its own", name, j)
			} else {
				refs[*q.RefId] = true
			}
		}
	}
}

// TestDashboardSchemaCatchesMistakes shows that the strict decoding is not vacuous: each of these
// mistakes in an otherwise good dashboard is refused.
func TestDashboardSchemaCatchesMistakes(t *testing.T) {
	type obj = map[string]any
	panelOf := func(d obj, typ string) obj {
		for _, p := range d["panels"].([]any) {
			if p.(obj)["type"] == typ {
				return p.(obj)
			}
		}
		t.Fatalf("no %s panel", typ)
		return nil
	}
	for name, spoil := range map[string]func(d obj){
		"unknown dashboard field": func(d obj) { d["titel"] = "x" },
		"no schemaVersion":        func(d obj) { delete(d, "schemaVersion") },
		"unknown panel field":     func(d obj) { panelOf(d, "stat")["descripton"] = "x" },
		"gridPos of wrong type":   func(d obj) { panelOf(d, "stat")["gridPos"].(obj)["h"] = "4" },
		"unknown stat option":     func(d obj) { panelOf(d, "stat")["options"].(obj)["colourMode"] = "value" },
		"unknown timeseries option": func(d obj) {
			panelOf(d, "timeseries")["options"].(obj)["legend"].(obj)["show"] = true
		},
		"unknown timeseries field config": func(d obj) {
			panelOf(d, "timeseries")["fieldConfig"].(obj)["defaults"].(obj)["custom"].(obj)["lineWdith"] = 2
		},
		"query without expr": func(d obj) {
			q := panelOf(d, "timeseries")["targets"].([]any)[0].(obj)
			q["exp"] = q["expr"]
			delete(q, "expr")
		},
		"unknown variable field": func(d obj) {
			d["templating"].(obj)["list"].([]any)[0].(obj)["multiple"] = true
		},
	} {
		var d obj
		if err := json.Unmarshal(ops.Dashboard, &d); err != nil {
			t.Fatal(err)
		}
		spoil(d)
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := strictDashboard(b); err == nil {
			t.Errorf("%s: the dashboard still decodes", name)
		}
	}
}

// promDatasource reports whether ds is the dashboard's ${datasource} variable of type prometheus.
func promDatasource(ds *common.DataSourceRef) bool {
	return ds != nil && deref(ds.Type) == "prometheus" && deref(ds.Uid) == "${datasource}"
}

// alertRules is the part of a Prometheus rule file the checks below read.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T) alertRules {
	t.Helper()
	var r alertRules
	dec := yaml.NewDecoder(bytes.NewReader(ops.AlertRules))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	return r
}

// TestAlertConventions checks what promtool does not: every rule is an alert with a for, a severity an
// on-call rota routes on, and the annotations that tell the operator what happened and what to do.
func TestAlertConventions(t *testing.T) {
	r := readRules(t)
	seen := map[string]bool{}
	n := 0
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			n++
			if rule.Alert == "" {
				t.Errorf("group %s: a rule without alert (recording rules belong elsewhere): %q", g.Name, rule.Expr)
				continue
			}
			if seen[rule.Alert] {
				t.Errorf("alert %s is defined twice", rule.Alert)
			}
			seen[rule.Alert] = true
			if rule.For == "" {
				t.Errorf("alert %s has no for: one bad scrape would page", rule.Alert)
			}
			if s := rule.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("alert %s: severity %q, want critical or warning", rule.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(rule.Annotations[a]) == "" {
					t.Errorf("alert %s has no %s annotation", rule.Alert, a)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("alerts.yml has no rules")
	}
	// Each alert has a promtool test case in which it fires.
	tests, err := os.ReadFile("prometheus/alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	for a := range seen {
		if !regexp.MustCompile(`alertname: ` + a + `\n\s+exp_alerts:\n\s+- exp_labels`).Match(tests) {
			t.Errorf("alerts_test.yml has no case in which %s fires", a)
		}
	}
}

// metric is a metric name the service exports and the labels its series carry.
type metric map[string]bool

// scrapeLabels are the labels Prometheus adds to every scraped series.
var scrapeLabels = []string{"job", "instance"}

var (
	descName   = regexp.MustCompile(`fqName: "((?:[^"\\]|\\.)*)"`)
	descConst  = regexp.MustCompile(`constLabels: \{([^}]*)\}`)
	descVar    = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
	constLabel = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)=`)
)

// registered builds the /metrics registry the way `acs serve` does (cmd/acs: server.New with the
// registry, acs.NewMetrics, push.New, the HSM's collector, the pool's, the RReq backlog and sms.NewMetrics),
// without a database, and returns every metric name with its labels. Names come from the collectors'
// descriptions, so a counter no request has touched yet counts too; the families of one request to /healthz
// tell which names are histograms or summaries (the _bucket, _sum and _count series). The collectors that
// ask the database or the HSM at each scrape (acs_db_*, acs_hsm_*, the backlogs) get nil pools and a nil HSM
// and sit in a second registry that is only described, never gathered: their Describe touches neither, their
// Collect would (so a histogram among them would need its _bucket, _sum and _count added by hand). One name
// is kept by hand: up, which Prometheus itself writes for each scrape.
func registered(t *testing.T) map[string]metric {
	t.Helper()
	reg := prometheus.NewRegistry()
	e := server.New(server.Deps{Log: slog.New(slog.DiscardHandler), Registry: reg})
	acs.NewMetrics(reg)
	push.New(push.Deps{}, reg)
	// Described only (see above): Collect pings the HSM and queries the database.
	probes := prometheus.NewRegistry()
	var noHSM *hsm.HSM
	probes.MustRegister(noHSM.Collector(), store.PoolCollector(nil), acs.RReqBacklog(nil))
	sms.NewMetrics(probes, nil, 0)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/healthz: %d", rec.Code)
	}

	out := map[string]metric{}
	add := func(name string, labels ...string) metric {
		m := out[name]
		if m == nil {
			m = metric{}
			out[name] = m
		}
		for _, l := range append(labels, scrapeLabels...) {
			m[l] = true
		}
		return m
	}
	ch := make(chan *prometheus.Desc)
	go func() { reg.Describe(ch); probes.Describe(ch); close(ch) }()
	for d := range ch {
		s := d.String()
		nm := descName.FindStringSubmatch(s)
		if nm == nil {
			t.Fatalf("cannot read the name of %s", s)
		}
		name, err := strconv.Unquote(`"` + nm[1] + `"`)
		if err != nil {
			t.Fatal(err)
		}
		var labels []string
		if c := descConst.FindStringSubmatch(s); c != nil {
			for _, l := range constLabel.FindAllStringSubmatch(c[1], -1) {
				labels = append(labels, l[1])
			}
		}
		if v := descVar.FindStringSubmatch(s); v != nil && v[1] != "" {
			for _, l := range strings.Split(v[1], ",") {
				labels = append(labels, strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"))
			}
		}
		add(name, labels...)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		base := out[f.GetName()]
		if base == nil {
			t.Fatalf("%s is gathered but not described", f.GetName())
		}
		var labels []string
		for l := range base {
			labels = append(labels, l)
		}
		switch f.GetType().String() {
		case "HISTOGRAM":
			add(f.GetName()+"_bucket", append(labels, "le")...)
			add(f.GetName()+"_sum", labels...)
			add(f.GetName()+"_count", labels...)
		case "SUMMARY":
			add(f.GetName(), "quantile")
			add(f.GetName()+"_sum", labels...)
			add(f.GetName()+"_count", labels...)
		}
	}
	if _, ok := out["acs_echo_request_duration_seconds_bucket"]; !ok {
		t.Fatal("the HTTP duration histogram is missing: did the echoprometheus names change?")
	}
	add("up")
	return out
}

// labelValues are the values the code gives labels that PromQL here selects by value: a renamed
// constant in package acs breaks this test, not the alert in production. A key "metric{label}" is for that
// metric alone and takes precedence over the key "label", where two metrics give one label name different
// sets of values (outcome). purpose is not listed: step_up_<purpose> is open-ended, so select no purpose by
// value.
var labelValues = map[string][]string{
	"result": {acs.ReasonChallengeSucceeded, acs.ReasonChallengeFailed, acs.ReasonCancelled, acs.ReasonNoCReq,
		acs.ReasonChallengeTimeout, acs.ReasonCReqRefused, acs.ReasonDSErro, acs.ReasonMethodLocked, acs.ReasonDecoupledTimeout,
		acs.ReasonDeclined, acs.ReasonIdentificationFailed, acs.ReasonPushLimit, acs.ReasonAppLocked},
	"reason":                            {acs.ReasonCardUnknown, acs.ReasonCardBlocked, acs.ReasonCardExpired, acs.ReasonNotRegistered, acs.ReasonLowValue},
	"trans_status":                      {"Y", "N", "U", "A", "C", "D", "R", "I"}, // EMV 3DS transStatus
	"acs_push_total{outcome}":           {"sent", "failed", "invalid_token", "no_token", "no_sender"},
	"acs_sms_deliveries_total{outcome}": {"sent", "retry", "given_up"}, // sms.outcomeNames
}

// allowedValues is the values labelValues lists for label of metric name, and whether it lists any.
func allowedValues(name, label string) ([]string, bool) {
	if v, ok := labelValues[name+"{"+label+"}"]; ok {
		return v, true
	}
	v, ok := labelValues[label]
	return v, ok
}

// grafanaVars replaces the dashboard's variables with values PromQL parses.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "${job}", "acs", "$job", "acs")

var labelValuesQuery = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

// TestQueriesUseRegisteredMetrics parses every PromQL expression of the dashboard and the alert rules and
// checks that each metric it selects is one the service registers, with labels that metric has.
func TestQueriesUseRegisteredMetrics(t *testing.T) {
	known := registered(t)
	d, panels := decodeDashboard(t)
	type query struct{ where, expr string }
	var queries []query
	for _, p := range panels {
		for j, q := range p.queries {
			queries = append(queries, query{fmt.Sprintf("dashboard panel %q target %d", deref(p.Title), j), q.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != dashboard.VariableTypeQuery || v.Query == nil || v.Query.String == nil {
			continue
		}
		m := labelValuesQuery.FindStringSubmatch(*v.Query.String)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, *v.Query.String)
			continue
		}
		if known[m[1]] == nil || !known[m[1]][m[2]] {
			t.Errorf("variable %s: %s{%s} is not exported", v.Name, m[1], m[2])
		}
	}
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			queries = append(queries, query{"alert " + r.Alert, r.Expr})
		}
	}
	if len(queries) == 0 {
		t.Fatal("no queries found")
	}
	used := map[string]bool{}
	for _, q := range queries {
		for _, problem := range queryProblems(known, q.expr, used) {
			t.Errorf("%s: %s", q.where, problem)
		}
	}
	t.Logf("metrics used: %s", strings.Join(slices.Sorted(func(yield func(string) bool) {
		for k := range used {
			if !yield(k) {
				return
			}
		}
	}), ", "))
}

// TestPromtool runs promtool on the rules: their syntax and the unit tests of alerts_test.yml. The
// test command (scripts/test.sh, with ACS_E2E=1) installs Debian's prometheus package, which brings it.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("ACS_E2E") != "" {
			t.Fatal("ACS_E2E is set but promtool is not on PATH (scripts/devenv.sh test installs the prometheus package)")
		}
		t.Skip("promtool is not installed (apt-get install --no-install-recommends prometheus)")
	}
	for _, args := range [][]string{
		{"check", "rules", "prometheus/alerts.yml"},
		{"test", "rules", "prometheus/alerts_test.yml"},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// queryProblems parses a PromQL expression (after replacing the dashboard's variables) and lists what in
// it the service does not export: a metric, a label of a metric, a label value the code never sets for
// the labels in labelValues, or a by/on label none of its metrics has. used collects the metric names.
func queryProblems(known map[string]metric, query string, used map[string]bool) []string {
	expr, err := parser.ParseExpr(grafanaVars.Replace(query))
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	// The labels this expression's selectors can carry: what by, without, on and ignoring may name.
	avail := map[string]bool{}
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == "__name__" {
				name = m.Value
			}
		}
		labels := known[name]
		if labels == nil {
			problems = append(problems, fmt.Sprintf("metric %s is not registered by the service", name))
			return nil
		}
		used[name] = true
		for l := range labels {
			avail[l] = true
		}
		for _, m := range vs.LabelMatchers {
			if m.Name == "__name__" {
				continue
			}
			if !labels[m.Name] {
				problems = append(problems, fmt.Sprintf("%s has no label %s", name, m.Name))
				continue
			}
			if want, ok := allowedValues(name, m.Name); ok {
				for _, v := range strings.Split(m.Value, "|") {
					if !slices.Contains(want, v) {
						problems = append(problems, fmt.Sprintf("%s=%q: the service gives %s no value %q", m.Name, m.Value, m.Name, v))
					}
				}
			}
		}
		return nil
	})
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		var names []string
		switch n := n.(type) {
		case *parser.AggregateExpr:
			names = n.Grouping
		case *parser.BinaryExpr:
			if n.VectorMatching != nil {
				names = append(names, n.VectorMatching.MatchingLabels...)
				names = append(names, n.VectorMatching.Include...)
			}
		}
		for _, l := range names {
			if !avail[l] {
				problems = append(problems, fmt.Sprintf("groups by %s, which none of its metrics has", l))
			}
		}
		return nil
	})
	return problems
}

// TestQueryProblemsCatchesMistakes shows that the check above refuses what it is for.
func TestQueryProblemsCatchesMistakes(t *testing.T) {
	known := registered(t)
	for _, q := range []string{
		`sum(rate(acs_sms_sent_total[5m]))`,                                // not exported: acs_sms_deliveries_total{outcome="sent"}
		`sum(rate(acs_ares_total{status="Y"}[5m]))`,                        // the label is trans_status
		`sum by (url) (rate(acs_ares_total[5m]))`,                          // acs_ares_total has no url
		`sum(rate(acs_challenge_results_total{result="success"}[5m]))`,     // not a value the code sets
		`sum(rate(acs_echo_requests_total{code=~"5.."}[$__rate_interval])`, // unbalanced
		`sum(rate(acs_sms_deliveries_total{outcome="failed"}[5m]))`,        // failed is a push outcome
		`sum(rate(acs_push_total{outcome="given_up"}[5m]))`,                // given_up is an SMS outcome
		`acs_hsm_up{op="sign"}`,                                            // op is acs_hsm_calls_total's
		`acs_db_pool_acquire_wait_seconds_total_bucket`,                    // a counter, not a histogram
	} {
		if len(queryProblems(known, q, map[string]bool{})) == 0 {
			t.Errorf("%s: no problem found", q)
		}
	}
	if p := queryProblems(known, `sum by (job, code) (rate(acs_echo_requests_total{url="/3ds/areq", code=~"5.."}[$__rate_interval]))`, map[string]bool{}); len(p) != 0 {
		t.Errorf("a good query has problems: %v", p)
	}
	for _, q := range []string{
		`sum by (job) (rate(acs_sms_deliveries_total{purpose="mtan", outcome=~"retry|given_up"}[5m]))`,
		`sum by (op) (rate(acs_hsm_calls_total[5m])) and on () max(acs_hsm_up) == 1`,
		`acs_db_pool_acquired_conns / acs_db_pool_max_conns + max(acs_rreq_oldest_pending_seconds) + max(acs_sms_outbox_pending)`,
	} {
		if p := queryProblems(known, q, map[string]bool{}); len(p) != 0 {
			t.Errorf("%s: a good query has problems: %v", q, p)
		}
	}
}
