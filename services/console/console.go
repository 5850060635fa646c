package console

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/idp"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/telemetry"
	"github.com/openrecon/recon/internal/workflow"
	"github.com/openrecon/recon/internal/workflow/sla"
)

// Deps are what the console is given.
type Deps struct {
	Log     *slog.Logger
	Metrics prometheus.Registerer
	// Store is an open, migrated case store (nil: open cfg.DatabaseURL).
	Store *casestore.Store
}

// Service is a running console.
type Service struct {
	cfg   Config
	log   *slog.Logger
	store *casestore.Store
	own   bool // the store was opened here
	feed  *Feed
	auth  *auth
	idp   *idp.Provider
	prod  *kgo.Client
	res   *avro.Codec[record.Resolution]
	topic string
	ln    net.Listener
	srv   *http.Server
	url   string
	sla   sla.Policy         // of breaks: the dashboard's breaches and escalation
	wf    *workflow.Workflow // what people may do, and who
	// controls is the store as publishing and escalating see it.
	controls controlStore
	// openings are the configured ledger opening balances by account|currency.
	openings map[string]casestore.Opening
	// stmtDays: accounts whose statements are not expected every business day.
	stmtDays map[string]string
	m        metrics
	ready    atomic.Bool
	sendMu   sync.Mutex // one resolution produced at a time (send)
	// Sign-offs and escalations (escalate.go).
	pubMu       sync.Mutex // one publish at a time
	signoffs    *avro.Codec[record.SignOff]
	escalations *avro.Codec[record.Escalation]
	topics      struct{ signoffs, escalations string }
	escalation  *escalationPolicy
	// rules: the rules topic, replays and publication (rules.go).
	rules *rulesState
	// The dashboard's figures, reused for a few seconds (summary).
	sumMu  sync.Mutex
	sum    *casestore.Summary
	sumAt  time.Time
	sumDay record.Date
	// DemoPassword is the demo users' password when the embedded provider runs.
	DemoPassword string
}

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	actions  *prometheus.CounterVec
	// statements: the statement issues the last escalation sweep found,
	// by kind (days without a statement, openings that differ, gaps).
	statements *prometheus.GaugeVec
}

// New opens the case store, starts the embedded provider when asked,
// discovers the OpenID provider and prepares the feed and the producer.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := config.Prepare(&cfg); err != nil {
		return nil, err
	}
	deps.Log, deps.Metrics = telemetry.Defaults(deps.Log, deps.Metrics)
	s := &Service{cfg: cfg, log: deps.Log.With("service", "console"), store: deps.Store}
	s.sla, _ = cfg.breakSLA()
	limits, _ := cfg.writeOffLimits()
	s.openings, _ = cfg.ledgerOpenings()
	s.stmtDays, _ = cfg.statementDays()
	s.escalation = &escalationPolicy{sla: s.sla, cfg: cfg.Escalation}
	s.escalation.teams, _ = cfg.accountTeams()
	if err := s.registerMetrics(deps.Metrics); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	if s.store == nil {
		st, err := casestore.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, err
		}
		s.store, s.own = st, true
		if err := st.Migrate(ctx); err != nil {
			return nil, err
		}
	}
	s.controls = s.store
	s.wf = workflow.New(workflow.Policy{ReasonCodes: cfg.ReasonCodes, WriteOffLimits: limits}, workflow.Deps{
		Store: s.store, Balances: s.balancesOf, Send: s.send, Published: s.publishNow, Today: s.today, Log: s.log,
		Counted: func(kind, status string) { s.m.actions.WithLabelValues(kind, status).Inc() }})
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	s.ln = ln
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + ln.Addr().String()
		s.cfg.PublicURL = cfg.PublicURL
	}
	s.url = cfg.publicURL()
	issuer, clientID, secret := cfg.OIDC.Issuer, cfg.OIDC.ClientID, cfg.OIDC.clientSecret
	if cfg.Demo.Enabled {
		s.DemoPassword = cfg.Demo.Password
		if s.DemoPassword == "" {
			s.DemoPassword = random(9)
		}
		clientID, secret = "recon-console", random(24)
		p, err := idp.Start(idp.Config{Addr: cfg.Demo.Addr, Users: idp.DemoUsers(), Password: s.DemoPassword, ClientID: clientID,
			ClientSecret: secret, RedirectURIs: []string{s.url + "/auth/callback"}, IDTokenLifetime: cfg.SessionTTL}, s.log)
		if err != nil {
			return nil, err
		}
		s.idp, issuer = p, p.Issuer
	}
	if s.auth, err = newAuth(ctx, cfg, issuer, clientID, secret, s.store, s.log); err != nil {
		return nil, err
	}
	if s.feed, err = NewFeed(ctx, cfg.Feed, s.store, s.log); err != nil {
		return nil, err
	}
	s.topic = cfg.Feed.Kafka.Topic(kafka.TopicResolutions)
	if s.prod, err = kafka.NewProducer(ctx, cfg.Feed.Kafka, kgo.ClientID(cfg.Feed.Kafka.WithDefaults().ClientID+"-actions"), kgo.ProducerLinger(0)); err != nil {
		return nil, err
	}
	reg, err := cfg.Feed.SchemaRegistry.Open()
	if err != nil {
		return nil, err
	}
	if s.res, err = avro.NewResolutionCodec(ctx, reg, s.topic+"-value"); err != nil {
		return nil, err
	}
	s.topics.signoffs, s.topics.escalations = cfg.Feed.Kafka.Topic(kafka.TopicSignoffs), cfg.Feed.Kafka.Topic(kafka.TopicEscalations)
	if s.signoffs, err = avro.NewSignOffCodec(ctx, reg, s.topics.signoffs+"-value"); err != nil {
		return nil, err
	}
	if s.escalations, err = avro.NewEscalationCodec(ctx, reg, s.topics.escalations+"-value"); err != nil {
		return nil, err
	}
	if err := s.openRules(ctx, reg); err != nil {
		return nil, err
	}
	s.wf.Rules = s.workflowRules()
	s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 5 * time.Minute}
	ok = true
	return s, nil
}

func (s *Service) registerMetrics(reg prometheus.Registerer) error {
	s.m = metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recon_console_requests_total",
			Help: "Console HTTP requests, by route and status class."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "recon_console_request_duration_seconds",
			Help: "Server time of console requests, by route.", Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14)}, []string{"route"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recon_console_actions_total",
			Help: "People's actions recorded by the console, by action and status."}, []string{"action", "status"}),
	}
	s.m.statements = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "recon_statement_issues",
		Help: "Statement issues the last escalation sweep found across accounts (missing_statement: business days without a booked statement; opening_differs; sequence_gap), from each account's latest statement up to yesterday."},
		[]string{"kind"})
	for _, k := range []string{casestore.IssueMissing, casestore.IssueOpeningDiffers, casestore.IssueSequenceGap} {
		s.m.statements.WithLabelValues(k)
	}
	for _, c := range []prometheus.Collector{s.m.requests, s.m.latency, s.m.actions, s.m.statements} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// URL is where browsers reach the console.
func (s *Service) URL() string { return s.url }

// Store is the case store.
func (s *Service) Store() *casestore.Store { return s.store }

// Ready reports whether the console serves and its feed's last write worked.
func (s *Service) Ready() error {
	if !s.ready.Load() {
		return errors.New("not serving")
	}
	return s.feed.LastErr()
}

// Run serves until ctx ends: the pages and API, the feed, and the sender
// of resolutions that a stop left unsent.
func (s *Service) Run(ctx context.Context) error {
	defer s.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 5)
	go func() { errc <- s.feed.Run(ctx) }()
	go func() { errc <- s.resend(ctx) }()
	go func() { errc <- s.escalate(ctx) }()
	go func() { errc <- s.runRules(ctx) }()
	go func() {
		err := s.srv.Serve(s.ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	s.ready.Store(true)
	s.log.Info("console serving", "url", s.url)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.ready.Store(false)
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	_ = s.srv.Shutdown(sctx)
	return err
}

func (s *Service) close() {
	if s.rules != nil {
		s.rules.topic.Close()
	}
	if s.prod != nil {
		s.prod.Close()
	}
	if s.idp != nil {
		_ = s.idp.Close()
	}
	if s.ln != nil {
		s.ln.Close()
	}
	if s.own && s.store != nil {
		s.store.Close()
	}
}

// resend produces the resolutions, sign-offs and escalations recorded but
// not yet produced (a stop between the two), every few seconds.
func (s *Service) resend(ctx context.Context) error {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		as, err := s.store.Unsent(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("reading unsent resolutions", "err", err)
		}
		for _, a := range as {
			if err := s.send(ctx, a); err != nil && ctx.Err() == nil {
				s.log.Error("sending a resolution failed; retrying", "action_id", a.ActionID, "err", err)
				break
			}
		}
		if err := s.publish(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("producing sign-offs or escalations failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// send produces an action's resolution (keyed account|currency, so it is
// on the partition of its records) and records that it was sent. One send
// at a time, and only while the store says unsent: the request handler and
// the resender never both produce it. A resolution produced twice anyway
// (a stop between producing and recording, or two consoles on one store)
// is refused by the matcher the second time and changes nothing.
func (s *Service) send(ctx context.Context, a *casestore.Action) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	cur, err := s.store.Action(ctx, a.ActionID)
	if err != nil {
		return err
	}
	if cur.Sent {
		return nil
	}
	a = cur
	r := &record.Resolution{ResolutionID: a.ResolutionID, Action: record.Action(a.Kind), Account: a.Account, Currency: a.Currency,
		BreakIDs: a.BreakIDs, MatchID: a.MatchID, RecordIDs: a.RecordIDs, User: a.User, ReasonCode: a.ReasonCode,
		Comment: a.Comment, Attachment: a.Attachment, DecidedAt: a.RequestedAt}
	if !a.DecidedAt.IsZero() {
		r.ApprovedBy, r.DecidedAt = a.DecidedBy, a.DecidedAt
	}
	v, err := s.res.Encode(nil, r)
	if err != nil {
		return fmt.Errorf("encode resolution %s: %w", r.ResolutionID, err)
	}
	if err := s.prod.ProduceSync(ctx, &kgo.Record{Topic: s.topic, Key: []byte(record.MatchKey(a.Account, a.Currency)), Value: v}).FirstErr(); err != nil {
		return err
	}
	return s.store.MarkSent(ctx, a.ActionID)
}

// routes are the console's pages and API.
func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.instrument(pattern, h)) }
	// Sign-in.
	handle("GET /login", s.auth.login)
	handle("GET /auth/callback", s.auth.callback)
	handle("POST /logout", s.page(true, s.auth.logout))
	handle("GET /signed-out", s.signedOut)
	handle("GET /static/", staticHandler())
	// Pages.
	handle("GET /{$}", s.page(false, s.dashboardPage))
	handle("GET /breaks", s.page(false, s.queuePage))
	handle("GET /breaks/{id}", s.page(false, s.detailPage))
	handle("GET /match", s.page(false, s.matchPage))
	handle("POST /match/sums", s.page(true, s.matchSums))
	handle("GET /proposals", s.page(false, s.proposalsPage))
	handle("GET /approvals", s.page(false, s.approvalsPage))
	handle("GET /audit", s.page(false, s.auditPage))
	handle("GET /rules", s.page(false, s.rulesPage))
	handle("POST /rules/proposals", s.page(true, s.proposeForm))
	handle("GET /rules/proposals/{id}", s.page(false, s.proposalPage))
	handle("GET /rules/requests/{id}", s.page(false, s.requestPage))
	handle("GET /rules/versions/{n}", s.page(false, s.versionPage))
	handle("POST /suggestions/{id}", s.page(true, s.suggestionForm))
	handle("GET /balances", s.page(false, s.balancesPage))
	handle("GET /balances/day", s.page(false, s.balanceDayPage))
	handle("GET /reports/reconciliation", s.page(false, s.reportPage))
	handle("POST /signoff", s.page(true, s.signoffForm))
	handle("POST /signoffs/{id}/reopen", s.page(true, s.reopenForm))
	handle("POST /act", s.page(true, s.actForm))
	handle("POST /decide/{id}", s.page(true, s.decideForm))
	// API.
	handle("GET /api/v1/openapi.json", serveOpenAPI)
	handle("GET /api/v1/me", s.api(false, s.apiMe))
	handle("GET /api/v1/breaks", s.api(false, s.apiBreaks))
	handle("GET /api/v1/breaks/{id}", s.api(false, s.apiBreak))
	handle("GET /api/v1/proposals", s.api(false, s.apiProposals))
	handle("GET /api/v1/approvals", s.api(false, s.apiApprovals))
	handle("POST /api/v1/actions", s.api(true, s.apiAction))
	handle("GET /api/v1/actions/{id}", s.api(false, s.apiGetAction))
	handle("POST /api/v1/approvals/{id}", s.api(true, s.apiApprove))
	handle("GET /api/v1/audit", s.api(false, s.apiAudit))
	handle("GET /api/v1/rules", s.api(false, s.apiRules))
	handle("GET /api/v1/rules/versions", s.api(false, s.apiRuleVersions))
	handle("POST /api/v1/rules/proposals", s.api(true, s.apiPropose))
	handle("GET /api/v1/rules/proposals/{id}", s.api(false, s.apiProposal))
	handle("GET /api/v1/suggestions", s.api(false, s.apiSuggestions))
	handle("POST /api/v1/suggestions/{id}", s.api(true, s.apiDecideSuggestion))
	handle("GET /api/v1/export", s.api(false, s.apiExport))
	handle("GET /api/v1/summary", s.api(false, s.apiSummary))
	handle("GET /api/v1/balances", s.api(false, s.apiBalances))
	handle("GET /api/v1/signoffs", s.api(false, s.apiSignoffs))
	handle("POST /api/v1/signoffs", s.api(true, s.apiSignoff))
	handle("POST /api/v1/signoffs/{id}/reopen", s.api(true, s.apiReopenSignoff))
	return securityHeaders(mux)
}

// instrument counts a route's requests and their server time.
func (s *Service) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: 200}
		h.ServeHTTP(sw, r)
		s.m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		s.m.requests.WithLabelValues(route, fmt.Sprintf("%dxx", sw.code/100)).Inc()
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// csp allows only the console's own scripts and styles: no inline script,
// no framing, forms only to itself.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// csrfOK checks the token of a state-changing request: the X-CSRF-Token
// header (API, htmx) or the csrf_token form field (forms).
func csrfOK(r *http.Request, ss *casestore.Session) bool {
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		tok = r.PostFormValue("csrf_token")
	}
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(ss.CSRF)) == 1
}

// page wraps a page handler: no session sends the browser to sign in (and
// back here after), a missing role or CSRF token is 403.
func (s *Service) page(write bool, h func(http.ResponseWriter, *http.Request, *casestore.Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss := s.auth.session(r)
		if ss == nil {
			next := r.URL.RequestURI()
			if r.Method != http.MethodGet {
				next = "/"
			}
			if r.Header.Get("HX-Request") != "" {
				w.Header().Set("HX-Redirect", "/login?next="+urlQuery(next))
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/login?next="+urlQuery(next), http.StatusFound)
			return
		}
		if write && !csrfOK(r, ss) {
			errorPage(w, r, http.StatusForbidden, "Forbidden", "The form's security token is missing or stale. Reload the page and try again.")
			return
		}
		if !has(ss, allRoles...) {
			errorPage(w, r, http.StatusForbidden, "Forbidden", "Your roles do not allow this page.")
			return
		}
		h(w, r, ss)
	}
}

// api wraps an API handler: 401 without a session, 403 without the CSRF
// token on a state-changing call; every role may read.
func (s *Service) api(write bool, h func(http.ResponseWriter, *http.Request, *casestore.Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss := s.auth.session(r)
		if ss == nil {
			apiError(w, http.StatusUnauthorized, "unauthenticated", "sign in first: no valid session (it may have expired)")
			return
		}
		if write && !csrfOK(r, ss) {
			apiError(w, http.StatusForbidden, "csrf", "missing or wrong X-CSRF-Token header (GET /api/v1/me gives it)")
			return
		}
		if !has(ss, allRoles...) {
			apiError(w, http.StatusForbidden, "forbidden", "no role")
			return
		}
		h(w, r, ss)
	}
}

func (s *Service) today() record.Date {
	return record.Date(s.now().UTC().Unix() / 86400)
}

// now is the clock (cfg.Today in tests and demos).
func (s *Service) now() time.Time {
	if s.cfg.Today != nil {
		return s.cfg.Today()
	}
	return time.Now()
}
