package notifier

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// Routing is the routes file: named channels, and routes saying which
// breaks go to which channels and recipients.
//
//	channels:
//	  ops-slack: {type: slack, url_file: /run/secrets/slack-url}
//	  treasury-mail:
//	    type: email
//	    smtp: smtp.example.com:587
//	    from: recon@example.com
//	    username: recon
//	    password_file: /run/secrets/smtp-password
//	    digest: 15m
//	  breaks-topic: {type: sns, topic_arn: "arn:aws:sns:eu-west-1:123456789012:recon-breaks", region: eu-west-1}
//	routes:
//	  - name: large-eur
//	    match: {currencies: [EUR], min_amount: "10000.00"}
//	    channels: [ops-slack, treasury-mail]
//	    recipients: [treasury@example.com]
//	    quiet_hours: {start: "20:00", end: "07:00", time_zone: Europe/Berlin}
//	  - name: all
//	    channels: [breaks-topic]
//	retry: {attempts: 8, backoff: 1s, max_backoff: 10m}
type Routing struct {
	Channels map[string]*ChannelConfig `yaml:"channels"`
	Routes   []*Route                  `yaml:"routes"`
	Retry    Retry                     `yaml:"retry"`
}

// ChannelConfig is one channel of the routes file. Which fields apply
// depends on Type.
type ChannelConfig struct {
	Type string `yaml:"type"` // webhook, slack, sns, email, log
	// Digest > 0 sends the channel's due deliveries for the same
	// recipients as one message at most once per interval.
	Digest time.Duration `yaml:"digest"`

	// webhook and slack: the URL, or a file holding it (a Slack incoming
	// webhook's URL is a secret).
	URL     string `yaml:"url"`
	URLFile string `yaml:"url_file"`
	// webhook: the file holding the HMAC signing secret.
	SecretFile string `yaml:"secret_file"`

	// sns
	TopicARN string `yaml:"topic_arn"`
	Region   string `yaml:"region"`
	Endpoint string `yaml:"endpoint"` // an SNS-compatible endpoint instead of AWS's

	// email
	SMTP         string   `yaml:"smtp"` // host:port
	From         string   `yaml:"from"`
	To           []string `yaml:"to"` // besides the route's recipients
	Username     string   `yaml:"username"`
	PasswordFile string   `yaml:"password_file"`
	// TLS: "starttls" (the default: refuses a server without it),
	// "implicit" (TLS from the first byte, port 465) or "none" (plain: a
	// relay inside a trusted network only, such as a compose stack's mail
	// catcher).
	TLS    string `yaml:"tls"`
	CAFile string `yaml:"ca_file"` // trust this CA besides the system's

	name   string
	secret []byte // webhook secret, read by load
	pass   string // SMTP password, read by load
}

// Route sends the breaks it matches to its channels.
type Route struct {
	Name       string      `yaml:"name"`
	Match      RouteMatch  `yaml:"match"`
	Channels   []string    `yaml:"channels"`
	Recipients []string    `yaml:"recipients"`
	QuietHours *QuietHours `yaml:"quiet_hours"`
	// Stop: a break this route matches is not offered to the routes after
	// it.
	Stop bool `yaml:"stop"`
}

// RouteMatch is a route's conditions; an empty list matches anything, and
// all given conditions must hold.
type RouteMatch struct {
	Accounts   []string `yaml:"accounts"`
	Currencies []string `yaml:"currencies"`
	Reasons    []string `yaml:"reasons"`
	Sides      []string `yaml:"sides"`
	// MinAmount: the break's amount, ignoring its sign, is at least this.
	MinAmount string `yaml:"min_amount"`
	minAmount *money.Decimal
}

// QuietHours holds a route's deliveries from Start to End (local time in
// TimeZone; End before Start spans midnight) and sends them when it ends.
type QuietHours struct {
	Start    string `yaml:"start"` // HH:MM
	End      string `yaml:"end"`
	TimeZone string `yaml:"time_zone"`
	// Days restricts the quiet hours to these weekdays (mon … sun); empty:
	// every day.
	Days  []string `yaml:"days"`
	loc   *time.Location
	start int // minutes after midnight
	end   int
	days  map[time.Weekday]bool
}

// Retry is how often and how long a delivery is tried before it is
// dead-lettered.
type Retry struct {
	// Attempts per delivery; 0 tries until delivered.
	Attempts   int           `yaml:"attempts"`
	Backoff    time.Duration `yaml:"backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
}

// Channel types.
const (
	ChannelWebhook = "webhook"
	ChannelSlack   = "slack"
	ChannelSNS     = "sns"
	ChannelEmail   = "email"
	ChannelLog     = "log"
)

// LoadRouting reads and checks a routes file. Every mistake is named with
// the route or channel it is in.
func LoadRouting(path string) (*Routing, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("routes-file: %w", err)
	}
	var r Routing
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("routes-file %s: %w", path, err)
	}
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("routes-file %s: %w", path, err)
	}
	return &r, nil
}

// breakReasons are the reasons a route may name.
var breakReasons = []record.BreakReason{record.Unmatched, record.AmountMismatch, record.Duplicate, record.Ambiguous,
	record.Late, record.DateOutOfWindow}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// check validates r and prepares its parsed fields.
func (r *Routing) check() error {
	var errs []error
	if r.Retry.Backoff == 0 {
		r.Retry.Backoff = time.Second
	}
	if r.Retry.MaxBackoff == 0 {
		r.Retry.MaxBackoff = 10 * time.Minute
	}
	if r.Retry.Attempts < 0 || r.Retry.Backoff < 0 || r.Retry.MaxBackoff < r.Retry.Backoff {
		errs = append(errs, errors.New("retry: attempts must be ≥ 0 and 0 < backoff ≤ max_backoff"))
	}
	for _, name := range slices.Sorted(maps.Keys(r.Channels)) {
		c := r.Channels[name]
		if c == nil {
			errs = append(errs, fmt.Errorf("channel %q is empty", name))
			continue
		}
		c.name = name
		for _, err := range c.check() {
			errs = append(errs, fmt.Errorf("channel %q: %w", name, err))
		}
	}
	if len(r.Routes) == 0 {
		errs = append(errs, errors.New("no routes"))
	}
	seen := map[string]bool{}
	for i, rt := range r.Routes {
		if rt == nil {
			errs = append(errs, fmt.Errorf("route %d is empty", i+1))
			continue
		}
		label := fmt.Sprintf("route %d", i+1)
		if rt.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name is empty", label))
		} else {
			label = fmt.Sprintf("route %q", rt.Name)
			if strings.ContainsAny(rt.Name, "|\n") {
				errs = append(errs, fmt.Errorf("%s: the name may not hold '|' or a line break", label))
			}
		}
		if seen[rt.Name] {
			errs = append(errs, fmt.Errorf("%s: the name is used twice", label))
		}
		seen[rt.Name] = true
		if len(rt.Channels) == 0 {
			errs = append(errs, fmt.Errorf("%s: no channels", label))
		}
		for _, ch := range rt.Channels {
			if r.Channels[ch] == nil {
				errs = append(errs, fmt.Errorf("%s: channel %q is not defined under channels", label, ch))
			}
		}
		for _, s := range rt.Match.Sides {
			if s != string(record.Bank) && s != string(record.Ledger) {
				errs = append(errs, fmt.Errorf("%s: side %q: want bank or ledger", label, s))
			}
		}
		for _, c := range rt.Match.Currencies {
			if len(c) != 3 || strings.ToUpper(c) != c {
				errs = append(errs, fmt.Errorf("%s: currency %q: want an ISO 4217 code such as EUR", label, c))
			}
		}
		for _, reason := range rt.Match.Reasons {
			if !slices.Contains(breakReasons, record.BreakReason(reason)) {
				errs = append(errs, fmt.Errorf("%s: reason %q is not a break reason", label, reason))
			}
		}
		if rt.Match.MinAmount != "" {
			d, err := money.Parse(rt.Match.MinAmount)
			if err != nil || d.Sign() < 0 {
				errs = append(errs, fmt.Errorf("%s: min_amount %q: want a non-negative decimal such as 10000.00", label, rt.Match.MinAmount))
			} else {
				rt.Match.minAmount = &d
			}
		}
		if q := rt.QuietHours; q != nil {
			for _, err := range q.problems() {
				errs = append(errs, fmt.Errorf("%s: quiet_hours: %w", label, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (c *ChannelConfig) check() []error {
	var errs []error
	need := func(field, v string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required for type %s", field, c.Type))
		}
	}
	if c.Digest < 0 {
		errs = append(errs, errors.New("digest is negative"))
	}
	switch c.Type {
	case ChannelWebhook:
		if c.URL == "" && c.URLFile == "" {
			errs = append(errs, errors.New("url or url_file is required for type webhook"))
		}
		need("secret_file", c.SecretFile)
	case ChannelSlack:
		if c.URL == "" && c.URLFile == "" {
			errs = append(errs, errors.New("url_file (or url) is required for type slack"))
		}
	case ChannelSNS:
		need("topic_arn", c.TopicARN)
		if c.TopicARN != "" && !strings.HasPrefix(c.TopicARN, "arn:") {
			errs = append(errs, fmt.Errorf("topic_arn %q is not an ARN", c.TopicARN))
		}
	case ChannelEmail:
		need("smtp", c.SMTP)
		need("from", c.From)
		if c.SMTP != "" && !strings.Contains(c.SMTP, ":") {
			errs = append(errs, fmt.Errorf("smtp %q: want host:port", c.SMTP))
		}
		switch c.TLS {
		case "", "starttls", "implicit", "none":
		default:
			errs = append(errs, fmt.Errorf("tls %q: want starttls, implicit or none", c.TLS))
		}
		if c.Username != "" && c.PasswordFile == "" {
			errs = append(errs, errors.New("username without password_file"))
		}
	case ChannelLog:
	case "":
		errs = append(errs, errors.New("type is empty: want webhook, slack, sns, email or log"))
	default:
		errs = append(errs, fmt.Errorf("type %q: want webhook, slack, sns, email or log", c.Type))
	}
	return errs
}

// load reads the files a channel names (secrets, URLs).
func (c *ChannelConfig) load() error {
	read := func(field, path string) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("channel %q: %s: %w", c.name, field, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("channel %q: %s %s is empty", c.name, field, path)
		}
		return v, nil
	}
	var err error
	if c.URLFile != "" {
		if c.URL, err = read("url_file", c.URLFile); err != nil {
			return err
		}
	}
	if c.URL != "" && !strings.HasPrefix(c.URL, "https://") && !strings.HasPrefix(c.URL, "http://") {
		return fmt.Errorf("channel %q: want an http(s) URL", c.name)
	}
	if c.SecretFile != "" {
		s, err := read("secret_file", c.SecretFile)
		if err != nil {
			return err
		}
		c.secret = []byte(s)
	}
	if c.PasswordFile != "" {
		if c.pass, err = read("password_file", c.PasswordFile); err != nil {
			return err
		}
	}
	return nil
}

func (q *QuietHours) check() error { return errors.Join(q.problems()...) }

func (q *QuietHours) problems() []error {
	var errs []error
	hm := func(field, s string) int {
		t, err := time.Parse("15:04", s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want HH:MM", field, s))
			return 0
		}
		return t.Hour()*60 + t.Minute()
	}
	q.start, q.end = hm("start", q.Start), hm("end", q.End)
	if q.Start == q.End && len(errs) == 0 {
		errs = append(errs, errors.New("start and end are equal"))
	}
	var err error
	if q.loc, err = time.LoadLocation(q.TimeZone); err != nil || q.TimeZone == "" {
		errs = append(errs, fmt.Errorf("time_zone %q: want an IANA zone such as Europe/London", q.TimeZone))
	}
	q.days = map[time.Weekday]bool{}
	for _, d := range q.Days {
		wd, ok := weekdays[strings.ToLower(d)]
		if !ok {
			errs = append(errs, fmt.Errorf("day %q: want mon, tue, wed, thu, fri, sat or sun", d))
		}
		q.days[wd] = true
	}
	return errs
}

// Until returns when the quiet period t falls in ends, or t itself when t
// is not in quiet hours. A period spanning midnight belongs to the day it
// starts on.
func (q *QuietHours) Until(t time.Time) time.Time {
	lt := t.In(q.loc)
	mins := lt.Hour()*60 + lt.Minute()
	day := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, q.loc)
	at := func(d time.Time, m int) time.Time {
		return time.Date(d.Year(), d.Month(), d.Day(), m/60, m%60, 0, 0, q.loc)
	}
	on := func(d time.Time) bool { return len(q.days) == 0 || q.days[d.Weekday()] }
	if q.start < q.end { // same day
		if mins >= q.start && mins < q.end && on(day) {
			return at(day, q.end)
		}
		return t
	}
	if mins >= q.start && on(day) { // evening part: ends tomorrow
		return at(day.AddDate(0, 0, 1), q.end)
	}
	if mins < q.end && on(day.AddDate(0, 0, -1)) { // morning part of yesterday's period
		return at(day, q.end)
	}
	return t
}

// matches reports whether b satisfies m.
func (m *RouteMatch) matches(b *record.Break) bool {
	in := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	if !in(m.Accounts, b.Account) || !in(m.Currencies, b.Currency) || !in(m.Reasons, string(b.Reason)) || !in(m.Sides, string(b.Side)) {
		return false
	}
	if m.minAmount != nil {
		a, err := b.Record.Amount.Abs()
		if err != nil || a.Cmp(*m.minAmount) < 0 {
			return false
		}
	}
	return true
}

// routesFor returns the routes b goes to, in file order.
func (r *Routing) routesFor(b *record.Break) []*Route {
	var out []*Route
	for _, rt := range r.Routes {
		if rt.Match.matches(b) {
			out = append(out, rt)
			if rt.Stop {
				break
			}
		}
	}
	return out
}
