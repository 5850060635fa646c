// Package console is the reconciliation console (docs/design.md §9): the
// web pages and JSON API where finance operations work breaks, behind
// OpenID Connect sign-in. Its own consumer (the feed) keeps the case store
// (internal/casestore) up to date from the topics; people's decisions go
// to the matcher as Resolution events on recon.resolutions, and requests
// that need a second person wait in the case store for an approver.
package console

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/openrecon/recon/internal/calendar"
	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/workflow"
	"github.com/openrecon/recon/internal/workflow/sla"
)

// Roles (the workflow's, docs/design.md §9).
const (
	RoleViewer   = workflow.Viewer
	RolePreparer = workflow.Preparer
	RoleApprover = workflow.Approver
	RoleAdmin    = workflow.Admin
	RoleEditor   = workflow.RulesEditor
)

var allRoles = []string{RoleViewer, RolePreparer, RoleApprover, RoleAdmin, RoleEditor}

// OIDCConfig is the sign-in configuration.
type OIDCConfig struct {
	Issuer string // the provider's issuer URL (discovery at /.well-known/openid-configuration)
	// DiscoveryURL is where the console reaches the provider when that
	// differs from the issuer browsers see (a container network: browsers
	// at http://localhost:8180/realms/recon, the console at
	// http://keycloak:8080/realms/recon). The tokens' issuer must still be
	// Issuer; the provider's metadata then names browser-facing and
	// back-channel endpoints (Keycloak: hostname-backchannel-dynamic).
	DiscoveryURL     string
	ClientID         string
	ClientSecretFile string // read by Load
	clientSecret     string
	Scopes           []string
	// GroupsClaim is the ID token claim listing the user's groups: "groups"
	// for Okta (with a groups claim on the authorization server) and Entra
	// ID (group object ids unless the app emits names; or "roles" with app
	// roles).
	GroupsClaim string
	// RoleMap maps a group to a role ("recon-approvers=approver").
	RoleMap []string
	// UserClaim names the user in the audit trail (default preferred_username,
	// falling back to email and sub).
	UserClaim string
}

// DemoConfig starts the embedded OpenID provider (loopback only) as the
// issuer, with the demo users.
type DemoConfig struct {
	Enabled  bool
	Addr     string // loopback host:port of the provider (default 127.0.0.1:0)
	Password string // the demo users' password ("" generates one, printed at start-up)
}

// Config is the console's configuration. Start from Defaults.
type Config struct {
	Addr        string // listen address of the pages and API
	PublicURL   string // the console's URL as browsers reach it (default http://Addr)
	DatabaseURL string // the case store: postgres://… or sqlite:PATH
	// CalendarFile changes the built-in business-day calendars (breaks are
	// aged in business days of their currency too).
	CalendarFile string
	calendars    *calendar.Set
	// FXRatesFile holds the exchange rates the matchers decide fx_rates
	// rules with (a rules proposal's replay uses them too).
	FXRatesFile string
	rates       *engine.Rates
	// WarehouseURL is the warehouse the loader writes: a rules proposal's
	// replay is compared with the live decisions there ("" : rules cannot
	// be proposed).
	WarehouseURL string
	// AliasMinEvidence is how many matches people made or confirmed must
	// show a pair of names before it is suggested as an alias;
	// AliasAutoAccept accepts such suggestions without an admin;
	// LearnDays is how far back the matches are read.
	AliasMinEvidence int
	AliasAutoAccept  bool
	LearnDays        int
	Feed             FeedConfig
	OIDC             OIDCConfig
	Demo             DemoConfig
	SessionTTL       time.Duration
	// ReasonCodes are the codes a write-off or acceptance must give.
	ReasonCodes []string
	// WriteOffLimits per currency ("EUR=1.00"): a write-off whose breaks
	// total at most this much (absolute) needs no second person. None by
	// default: every write-off waits for an approver.
	WriteOffLimits []string
	// LedgerOpenings are ledger balances to start the balance view from
	// ("ACCOUNT|CUR=AMOUNT@DATE": the balance at the end of DATE); an
	// account without one starts from its first statement's opening
	// balance.
	LedgerOpenings []string
	// SLADays per reason ("duplicate=1"); SLADefault for the others.
	SLADays    []string
	SLADefault int
	// SLABusinessDays counts a break's age against its SLA (dashboard,
	// escalation) in business days of its currency's calendar.
	SLABusinessDays bool
	// AccountSLADays per account ("DE89…=2"): a break of the account
	// breaches the stricter of its reason's and its account's SLA.
	AccountSLADays []string
	// StatementDays per account ("DE89…=none"): which days a booked
	// statement is expected: business (every business day of the
	// currency's calendar, the default) or none (only balances and
	// numbers are checked).
	StatementDays []string
	Escalation    EscalationConfig
	// Today overrides the date ages count from (tests, demos); 0: the clock.
	Today func() time.Time
}

// EscalationConfig is when and to whom the console escalates: an open
// break at level n once it is older than n times its SLA, a request once
// it waited n times ApprovalSLA, up to Levels; each subject once per
// level, through recon.escalations and the notifier.
type EscalationConfig struct {
	Interval       time.Duration // how often the sweep runs (0: never)
	Levels         int           // highest level
	ApprovalSLA    time.Duration // how long a request may wait for an approver
	AccountTeams   []string      // ACCOUNT=team: who is told of the account's unassigned breaks
	UnassignedTeam string        // who is told of unassigned breaks of the other accounts
	ApproversTeam  string        // who is told of waiting requests
}

// Defaults is the configuration the settings, `recon up` and the tests
// start from.
func Defaults() Config {
	f := FeedDefaults()
	return Config{Addr: "127.0.0.1:8080", DatabaseURL: "sqlite:recon-console.db", Feed: f,
		OIDC: OIDCConfig{Scopes: []string{"openid", "profile", "email"}, GroupsClaim: "groups",
			RoleMap: []string{"viewer=viewer", "preparer=preparer", "approver=approver", "admin=admin", "rules_editor=rules_editor"}, UserClaim: "preferred_username"},
		Demo:       DemoConfig{Addr: "127.0.0.1:0"},
		SessionTTL: 8 * time.Hour, AliasMinEvidence: 2, LearnDays: 90,
		ReasonCodes: []string{"bank_fee", "rounding", "timing", "duplicate", "counterparty_error", "fx_difference", "other"},
		SLADays:     []string{"duplicate=1", "late=3", "ambiguous=3"}, SLADefault: 5,
		Escalation: EscalationConfig{Interval: 5 * time.Minute, Levels: 3, ApprovalSLA: 24 * time.Hour, UnassignedTeam: "operations",
			ApproversTeam: "approvers"}}
}

// Register declares the settings on l, with c's values as their defaults.
func (c *Config) Register(l *config.Loader) {
	c.Feed.Kafka.Register(l)
	c.Feed.SchemaRegistry.Register(l)
	l.String(&c.Feed.Group, "group", c.Feed.Group, "consumer group of the console's feed")
	l.String(&c.Addr, "console-addr", c.Addr, "listen address of the console's pages and API")
	l.String(&c.PublicURL, "public-url", c.PublicURL, "the console's URL as browsers reach it (default http://console-addr); the sign-in callback is PUBLIC-URL/auth/callback")
	l.String(&c.DatabaseURL, "database-url", c.DatabaseURL, "case store: postgres://… (production) or sqlite:PATH")
	l.String(&c.CalendarFile, "calendar-file", c.CalendarFile, "business-day calendars (YAML): holidays per currency over the built-in ones (the age of a break in business days)")
	l.String(&c.FXRatesFile, "fx-rates", c.FXRatesFile, "the matchers' exchange rates (CSV: date,pair,rate), for the replays of rules proposals")
	l.Int(&c.AliasMinEvidence, "alias-min-evidence", c.AliasMinEvidence, "matches by people that must show a pair of counterparty names before it is suggested as an alias")
	l.Bool(&c.AliasAutoAccept, "alias-auto-accept", c.AliasAutoAccept, "accept alias suggestions without an admin (each still becomes a new rule version, in the audit chain)")
	l.Int(&c.LearnDays, "learn-days", c.LearnDays, "days of people's matches the suggestions are drawn from")
	l.String(&c.WarehouseURL, "warehouse-url", c.WarehouseURL, "the warehouse the loader writes (postgres://, redshift://, sqlite:PATH): rules proposals are replayed against its live decisions")
	l.String(&c.OIDC.DiscoveryURL, "oidc-discovery-url", c.OIDC.DiscoveryURL, "where the console reaches the provider when not at the issuer URL browsers use (containers); the tokens' issuer stays oidc-issuer")
	l.String(&c.OIDC.Issuer, "oidc-issuer", c.OIDC.Issuer, "OpenID provider issuer URL (Okta: https://ORG.okta.com/oauth2/default; Entra ID: https://login.microsoftonline.com/TENANT/v2.0)")
	l.String(&c.OIDC.ClientID, "oidc-client-id", c.OIDC.ClientID, "OAuth client id of the console")
	l.String(&c.OIDC.ClientSecretFile, "oidc-client-secret-file", c.OIDC.ClientSecretFile, "file holding the OAuth client secret")
	l.List(&c.OIDC.Scopes, "oidc-scopes", c.OIDC.Scopes, "scopes to request (Okta: add groups if the groups claim needs it)")
	l.String(&c.OIDC.GroupsClaim, "oidc-groups-claim", c.OIDC.GroupsClaim, "ID token claim with the user's groups (Okta and Entra ID: groups; Entra ID app roles: roles)")
	l.List(&c.OIDC.RoleMap, "oidc-role-map", c.OIDC.RoleMap, "group=role pairs: which group gives which of the roles viewer, preparer, approver, admin")
	l.String(&c.OIDC.UserClaim, "oidc-user-claim", c.OIDC.UserClaim, "claim naming the user in the audit trail (then email, then sub)")
	l.Bool(&c.Demo.Enabled, "demo-idp", c.Demo.Enabled, "start the embedded OpenID provider on loopback with the demo users (laptops and tests; never production)")
	l.String(&c.Demo.Addr, "demo-idp-addr", c.Demo.Addr, "loopback address of the embedded OpenID provider")
	l.String(&c.Demo.Password, "demo-password", c.Demo.Password, "password of the demo users (empty: generated and printed at start-up)")
	l.Duration(&c.SessionTTL, "session-ttl", c.SessionTTL, "how long a sign-in lasts")
	l.List(&c.ReasonCodes, "reason-codes", c.ReasonCodes, "reason codes for write-offs and acceptances")
	l.List(&c.WriteOffLimits, "write-off-limits", c.WriteOffLimits, "CUR=amount pairs: write-offs totalling at most this need no approver (default: every write-off does)")
	l.List(&c.LedgerOpenings, "ledger-opening-balances", c.LedgerOpenings, "ACCOUNT|CUR=AMOUNT@YYYY-MM-DD: the ledger balance at the end of that day, where the balance view starts (default: the account's first statement's opening balance)")
	l.List(&c.SLADays, "sla-days", c.SLADays, "reason=days an open break may age before it breaches its SLA")
	l.Int(&c.SLADefault, "sla-default-days", c.SLADefault, "SLA days of the reasons sla-days does not name")
	l.Bool(&c.SLABusinessDays, "sla-business-days", c.SLABusinessDays, "count SLA days (dashboard breaches, escalation) as business days of the break's currency (calendar-file), not calendar days")
	l.List(&c.AccountSLADays, "account-sla-days", c.AccountSLADays, "ACCOUNT=days: a break of the account breaches the stricter of this and its reason's SLA")
	l.List(&c.StatementDays, "statement-days", c.StatementDays, "ACCOUNT=business|none: the days a booked statement is expected (default business: every business day of the currency; none: only balances and numbers are checked)")
	e := &c.Escalation
	l.Duration(&e.Interval, "escalation-interval", e.Interval, "how often breaks past their SLA and waiting requests are escalated (0: never)")
	l.Int(&e.Levels, "escalation-levels", e.Levels, "highest escalation level: level n when a break is older than n times its SLA, or a request waited n times approval-sla")
	l.Duration(&e.ApprovalSLA, "approval-sla", e.ApprovalSLA, "how long a request may wait for an approver before it is escalated")
	l.List(&e.AccountTeams, "account-teams", e.AccountTeams, "ACCOUNT=team: who is told of the account's unassigned breaks")
	l.String(&e.UnassignedTeam, "unassigned-team", e.UnassignedTeam, "who is told of unassigned breaks of accounts account-teams does not name")
	l.String(&e.ApproversTeam, "approvers-team", e.ApproversTeam, "who is told of requests waiting for an approver")
}

// Validate reports every configuration mistake at once. It reads no file.
func (c Config) Validate() error {
	errs := []error{c.Feed.Validate()}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("console-addr %q: %w", c.Addr, err))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("public-url %q: want http(s)://host[:port]", c.PublicURL))
		}
	}
	if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") && !strings.HasPrefix(c.DatabaseURL, "sqlite:") {
		errs = append(errs, fmt.Errorf("database-url: want postgres://… or sqlite:PATH"))
	}
	if c.Demo.Enabled {
		if c.OIDC.Issuer != "" {
			errs = append(errs, errors.New("demo-idp and oidc-issuer are exclusive: the demo provider is the issuer"))
		}
	} else {
		if c.OIDC.Issuer == "" || c.OIDC.ClientID == "" || c.OIDC.ClientSecretFile == "" {
			errs = append(errs, errors.New("sign-in needs oidc-issuer, oidc-client-id and oidc-client-secret-file (or demo-idp on a laptop)"))
		}
	}
	if c.OIDC.GroupsClaim == "" {
		errs = append(errs, errors.New("oidc-groups-claim is empty"))
	}
	if _, err := c.roleMap(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.breakSLA(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.accountTeams(); err != nil {
		errs = append(errs, err)
	}
	if e := c.Escalation; e.Interval < 0 || e.Levels < 1 || e.ApprovalSLA <= 0 || e.UnassignedTeam == "" || e.ApproversTeam == "" {
		errs = append(errs, errors.New("escalation: escalation-interval must not be negative, escalation-levels at least 1, approval-sla positive, unassigned-team and approvers-team set"))
	}
	if _, err := c.writeOffLimits(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.ledgerOpenings(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.statementDays(); err != nil {
		errs = append(errs, err)
	}
	if c.SessionTTL < time.Minute {
		errs = append(errs, errors.New("session-ttl must be at least a minute"))
	}
	if len(c.ReasonCodes) == 0 {
		errs = append(errs, errors.New("reason-codes is empty"))
	}
	if c.AliasMinEvidence < 1 || c.LearnDays < 1 {
		errs = append(errs, errors.New("alias-min-evidence and learn-days must be at least 1"))
	}
	return errors.Join(errs...)
}

// Load reads the calendar file and the client secret file.
func (c *Config) Load() error {
	var err error
	if c.calendars, err = calendar.Load(c.CalendarFile); err != nil {
		return err
	}
	if c.FXRatesFile != "" {
		if c.rates, err = engine.LoadRates(c.FXRatesFile); err != nil {
			return err
		}
	}
	if c.OIDC.ClientSecretFile == "" {
		return nil
	}
	b, err := os.ReadFile(c.OIDC.ClientSecretFile)
	if err != nil {
		return fmt.Errorf("oidc-client-secret-file: %w", err)
	}
	if c.OIDC.clientSecret = strings.TrimRight(string(b), "\r\n"); c.OIDC.clientSecret == "" {
		return fmt.Errorf("oidc-client-secret-file %s is empty", c.OIDC.ClientSecretFile)
	}
	return nil
}

// roleMap parses group=role pairs.
func (c Config) roleMap() (map[string][]string, error) {
	out := map[string][]string{}
	for _, kv := range c.OIDC.RoleMap {
		g, r, ok := strings.Cut(kv, "=")
		if !ok || g == "" || !isRole(r) {
			return nil, fmt.Errorf("oidc-role-map %q: want group=role with role one of %s", kv, strings.Join(allRoles, ", "))
		}
		out[g] = append(out[g], r)
	}
	return out, nil
}

func isRole(r string) bool {
	for _, x := range allRoles {
		if x == r {
			return true
		}
	}
	return false
}

// breakSLA parses the SLA settings (sla-days, account-sla-days, the
// default and the business-day count).
func (c Config) breakSLA() (sla.Policy, error) {
	p := sla.Policy{Default: c.SLADefault, BusinessDays: c.SLABusinessDays, Calendars: c.calendars}
	var err error
	if p.Reason, err = pairs("sla-days", "reason=days", c.SLADays, days); err != nil {
		return p, err
	}
	if p.Account, err = pairs("account-sla-days", "ACCOUNT=days", c.AccountSLADays, days); err != nil {
		return p, err
	}
	if c.SLADefault < 0 {
		return p, errors.New("sla-default-days must not be negative")
	}
	return p, nil
}

// statementDays parses statement-days.
func (c Config) statementDays() (map[string]string, error) {
	return pairs("statement-days", "ACCOUNT=business|none", c.StatementDays, func(v string) (string, error) {
		if v != "business" && v != "none" {
			return "", errors.New("business or none")
		}
		return v, nil
	})
}

// accountTeams parses account-teams.
func (c Config) accountTeams() (map[string]string, error) {
	return pairs("account-teams", "ACCOUNT=team", c.Escalation.AccountTeams, team)
}

// writeOffLimits parses CUR=amount pairs.
func (c Config) writeOffLimits() (map[string]money.Decimal, error) {
	out := map[string]money.Decimal{}
	for _, kv := range c.WriteOffLimits {
		cur, amt, ok := strings.Cut(kv, "=")
		d, err := money.Parse(amt)
		if !ok || len(cur) != 3 || err != nil || d.Sign() < 0 {
			return nil, fmt.Errorf("write-off-limits %q: want CUR=amount, e.g. EUR=1.00", kv)
		}
		out[strings.ToUpper(cur)] = d
	}
	return out, nil
}

// publicURL is where browsers reach the console.
func (c Config) publicURL() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	return "http://" + c.Addr
}

// rolesOf maps a user's groups to roles, sorted and without repeats.
func rolesOf(groups []string, m map[string][]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, g := range groups {
		for _, r := range m[g] {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	sort.Strings(out)
	return out
}

// The console's settings follow the common pattern.
var _ config.Validator = Config{}

// pairs parses KEY=value settings with parse for the values.
func pairs[T any](name, want string, kvs []string, parse func(string) (T, error)) (map[string]T, error) {
	out := map[string]T{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%s %q: want %s", name, kv, want)
		}
		x, err := parse(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%s %q: want %s: %v", name, kv, want, err)
		}
		out[strings.TrimSpace(k)] = x
	}
	return out, nil
}

// days parses a non-negative number of days.
func days(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err == nil && n < 0 {
		err = errors.New("negative")
	}
	return n, err
}

// team parses a team name.
func team(v string) (string, error) {
	if v == "" {
		return "", errors.New("empty team")
	}
	return v, nil
}
