package engine

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/openrecon/recon/internal/calendar"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// Config is a rules file: an ordered waterfall of rules, the reference
// extractors they share, and the grace added to every window.
//
//	grace_days: 1
//	extractors:
//	  - name: invoice
//	    pattern: '(?i)\bINV[\s\-_/]*(\d{4})[\s\-_/]*(\d{1,6})\b'
//	    template: 'INV$1-$2'          # groups; $2 is zero-padded to 6 digits with pad: {2: 6}
//	    pad: {2: 6}
//	rules:
//	  - name: exact
//	    reference: normalized         # exact | normalized | contains | none
//	    amount: {absolute: "0", percent: "0", fee: "0", fee_share: ""}   # fee_share: the fee at most this % of the amount
//	    date: {before: 3, after: 3, business_days: false}
//	    counterparty: {min_similarity: 0}   # 0-100; 0 = not compared
//	    cardinality: "1:1"            # 1:1 | 1:N (one bank, many ledger) | N:1 | N:M (several each side)
//	    max_candidates: 12            # 1:N / N:1: candidates per record; N:M: records per side sharing a key
//	    max_group: 6
//	    unique_amount: false          # 1:1: the amount (not a round one) is the only one of its kind on both sides in the window
//	    confidence: 10000             # basis points before penalties
//	    min_confidence: 9000
//	    action: auto                  # auto | propose
//	    late_only: false              # true: only at the close; its window keeps nothing pending longer
//	    key_prefix: ""                # only reference keys starting with this (CHQ: cheque numbers); its window holds only records with one
//	    whole_group: false            # 1:N: the bank entry against every ledger item sharing a key, either sign (payouts net of refunds and fees)
//	    expand: ""                    # 1:N: counterparty: the items the reference names plus the counterparty's other items, exact total (reference none: the counterparty's items alone, two or more)
//	    fx_rates: false               # the ledger's original amount at the rates file's rate for the bank date must equal the bank amount
//	    variance: ""                  # fee | fx: how a difference is named in the explanation
//	    # amount.propose_above: a difference above this % of the amount is proposed, not auto
type Config struct {
	GraceDays  int         `yaml:"grace_days"`
	Extractors []Extractor `yaml:"extractors"`
	Rules      []Rule      `yaml:"rules"`
	// Calendars says which days are business days per currency
	// (business_days windows, close dates); nil: the built-in set. It
	// comes from the calendar-file setting, not from the rules file.
	Calendars *calendar.Set `yaml:"-"`
	// Rates are the exchange rates of the fx-rates setting (fx_rates
	// rules); nil: none, and such rules take nothing.
	Rates *Rates `yaml:"-"`
	// Aliases are the accepted counterparty aliases of the rule set's
	// version (DESIGN.md §10): the counterparty rules treat each pair of
	// names as one party.
	Aliases []record.Alias `yaml:"-"`
	// Source is the YAML the configuration was read from (ParseConfig).
	Source []byte `yaml:"-"`
}

// Text is the rules' YAML: the text they were read from (with its
// comments) while it still says what c says, else c's YAML form (a
// configuration built or changed in code).
func (c Config) Text() (string, error) {
	if len(c.Source) > 0 {
		if src, err := ParseConfig(c.Source, "source"); err == nil && src.GraceDays == c.GraceDays &&
			reflect.DeepEqual(src.Extractors, c.Extractors) && reflect.DeepEqual(src.Rules, c.Rules) {
			return string(c.Source), nil
		}
	}
	b, err := yaml.Marshal(c)
	return string(b), err
}

// Extractor turns references written many ways ("INV-2026-00123",
// "INV202600123", "inv 2026 00123") into one key.
type Extractor struct {
	Name     string      `yaml:"name"`
	Pattern  string      `yaml:"pattern"`
	Template string      `yaml:"template"`
	Pad      map[int]int `yaml:"pad"`
	re       *regexp.Regexp
	req      []string   // literals every match contains (prefilter), folded
	tmpl     []tmplPart // Template, parsed
}

// tmplPart is a literal piece of a template, or (group > 0) a reference
// to a capture group ($1, $2, ...).
type tmplPart struct {
	lit   string
	group int
}

// parseTemplate splits t into literals and group references. "$12" is
// group 12 when the pattern has that many groups, else group 1 and a
// literal "2"; a '$' before no valid group is a literal.
func parseTemplate(t string, groups int) []tmplPart {
	var parts []tmplPart
	lit := func(s string) {
		if n := len(parts); n > 0 && parts[n-1].group == 0 {
			parts[n-1].lit += s
			return
		}
		parts = append(parts, tmplPart{lit: s})
	}
	for i := 0; i < len(t); {
		if t[i] != '$' {
			j := strings.IndexByte(t[i:], '$')
			if j < 0 {
				j = len(t) - i
			}
			lit(t[i : i+j])
			i += j
			continue
		}
		end := i + 1
		for end < len(t) && t[end] >= '0' && t[end] <= '9' {
			end++
		}
		g := 0
		for n := end; n > i+1; n-- {
			if v, err := strconv.Atoi(t[i+1 : n]); err == nil && v >= 1 && v <= groups {
				g, end = v, n
				break
			}
		}
		if g == 0 {
			lit("$")
			i++
			continue
		}
		parts = append(parts, tmplPart{group: g})
		i = end
	}
	return parts
}

// Rule is one step of the waterfall.
type Rule struct {
	Name      string `yaml:"name"`
	Reference string `yaml:"reference"`
	Amount    struct {
		Absolute string `yaml:"absolute"`
		Percent  string `yaml:"percent"`
		Fee      string `yaml:"fee"`
		// FeeShare caps the fee at this percentage of the amount (empty:
		// no cap): 25.00 off a 32.40 payment is no bank charge.
		FeeShare string `yaml:"fee_share"`
		// ProposeAbove: a difference above this percentage of the amount
		// makes the match proposed (for a person) even in an auto rule.
		ProposeAbove string `yaml:"propose_above"`
	} `yaml:"amount"`
	Date struct {
		Before       int  `yaml:"before"`
		After        int  `yaml:"after"`
		BusinessDays bool `yaml:"business_days"`
	} `yaml:"date"`
	Counterparty struct {
		MinSimilarity int `yaml:"min_similarity"`
	} `yaml:"counterparty"`
	Cardinality   string `yaml:"cardinality"`
	MaxCandidates int    `yaml:"max_candidates"`
	MaxGroup      int    `yaml:"max_group"`
	Confidence    int    `yaml:"confidence"`
	MinConfidence int    `yaml:"min_confidence"`
	Action        string `yaml:"action"`
	// UniqueAmount (1:1 rules): a pair qualifies only when neither record
	// has another candidate under the rule (the amount, with cents, is the
	// only one of its kind on both sides within the window).
	UniqueAmount bool `yaml:"unique_amount"`
	// LateOnly rules decide only what the window holds when it closes
	// (with broken records kept for retention): their date window does not
	// keep records pending longer, so a wide one costs no delay of breaks.
	LateOnly bool `yaml:"late_only"`
	// KeyPrefix limits the rule to reference keys starting with it (an
	// extractor's template, such as CHQ for cheque numbers): records
	// without such a key are not held open by its window.
	KeyPrefix string `yaml:"key_prefix"`
	// WholeGroup (1:N): the bank entry against all the ledger items that
	// share one of its keys, charges and refunds alike (a card acquirer's
	// or PSP's payout id); their total is compared once (linear in the
	// items), the difference allowed as an unbooked fee (amount.fee_share).
	WholeGroup bool `yaml:"whole_group"`
	// Expand (1:N): "counterparty": the group is the ledger items sharing a
	// key with the bank entry (at least one) plus other items of the same
	// counterparty in the window, with an exact total: a remittance whose
	// list of invoices the bank cut short. With reference none, the
	// counterparty's items alone (two or more) make up the amount: several
	// invoices paid at once without naming them.
	Expand string `yaml:"expand"`
	// FXRates: the ledger item's original amount (original_currency and
	// original_amount columns) converted at the rate of the bank's booking
	// date from the fx-rates file must be the bank amount to the cent.
	FXRates bool `yaml:"fx_rates"`
	// Variance names an amount difference in the explanation: fee or fx.
	Variance string `yaml:"variance"`

	abs, pct, fee, feeShare, proposeAbove money.Decimal
}

// MaxWindowDays is the widest date window a rule may have, either way.
const MaxWindowDays = 60

//go:embed default-rules.yaml
var defaultRules []byte

// DefaultConfig is the built-in rule set (default-rules.yaml).
func DefaultConfig() Config {
	c, err := ParseConfig(defaultRules, "default-rules.yaml")
	if err != nil {
		panic(err) // a broken built-in is a build error; TestDefaultRules catches it
	}
	return c
}

// LoadConfig reads a rules file.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return ParseConfig(b, path)
}

// WithFiles is base with what the settings point at: the rules file
// replaces its rules ("" keeps them), the calendar file sets its
// business-day calendars, the fx-rates file its exchange rates ("" keeps
// them).
func WithFiles(base Config, rulesFile, calendarFile, ratesFile string) (Config, error) {
	c := base
	if rulesFile != "" {
		var err error
		if c, err = LoadConfig(rulesFile); err != nil {
			return c, err
		}
		c.Calendars, c.Rates = base.Calendars, base.Rates
	}
	if ratesFile != "" {
		rates, err := LoadRates(ratesFile)
		if err != nil {
			return c, err
		}
		c.Rates = rates
	}
	if calendarFile != "" {
		cal, err := calendar.Load(calendarFile)
		if err != nil {
			return c, err
		}
		c.Calendars = cal
	}
	return c, nil
}

// ParseConfig reads and validates rules YAML; every problem is reported
// with the rule it belongs to.
func ParseConfig(b []byte, file string) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("rules %s: %w", file, err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("rules %s:\n%w", file, err)
	}
	c.Source = b
	return c, nil
}

// Validate checks the rules and prepares them.
func (c *Config) Validate() error {
	var errs []error
	bad := func(where, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
	}
	if c.GraceDays < 0 {
		bad("grace_days", "must not be negative")
	}
	for i := range c.Extractors {
		x := &c.Extractors[i]
		where := fmt.Sprintf("extractors[%d] (%s)", i, x.Name)
		re, err := regexp.Compile(x.Pattern)
		if err != nil {
			bad(where, "pattern: %v", err)
			continue
		}
		x.re, x.req, x.tmpl = re, prefilter(x.Pattern), parseTemplate(x.Template, re.NumSubexp())
		if x.Template == "" {
			bad(where, "template is empty")
		}
	}
	if len(c.Rules) == 0 {
		bad("rules", "at least one rule is needed")
	}
	names := map[string]bool{}
	for i := range c.Rules {
		r := &c.Rules[i]
		where := fmt.Sprintf("rules[%d] (%s)", i, r.Name)
		if r.Name == "" {
			bad(where, "name is empty")
		}
		if names[r.Name] {
			bad(where, "name used twice")
		}
		names[r.Name] = true
		switch r.Reference {
		case "exact", "normalized", "contains", "none":
		case "":
			r.Reference = "normalized"
		default:
			bad(where, "reference %q: want exact, normalized, contains or none", r.Reference)
		}
		for _, a := range []struct {
			name, v string
			dst     *money.Decimal
		}{{"amount.absolute", r.Amount.Absolute, &r.abs}, {"amount.percent", r.Amount.Percent, &r.pct}, {"amount.fee", r.Amount.Fee, &r.fee}, {"amount.fee_share", r.Amount.FeeShare, &r.feeShare}, {"amount.propose_above", r.Amount.ProposeAbove, &r.proposeAbove}} {
			if a.v == "" {
				*a.dst = money.New(0, 0)
				continue
			}
			d, err := money.Parse(a.v)
			if err != nil || d.Sign() < 0 {
				bad(where, "%s %q: want a non-negative decimal", a.name, a.v)
			}
			*a.dst = d
		}
		if r.Date.Before < 0 || r.Date.After < 0 || r.Date.Before > MaxWindowDays || r.Date.After > MaxWindowDays {
			bad(where, "date.before and date.after: 0 to %d days", MaxWindowDays)
		}
		if r.Counterparty.MinSimilarity < 0 || r.Counterparty.MinSimilarity > 100 {
			bad(where, "counterparty.min_similarity: 0 to 100")
		}
		switch r.Cardinality {
		case "", "1:1":
			r.Cardinality = "1:1"
		case "1:N", "N:1":
			if r.MaxCandidates == 0 {
				r.MaxCandidates = 12
			}
			if r.MaxGroup == 0 {
				r.MaxGroup = 6
			}
			if r.MaxCandidates > 24 || r.MaxGroup > 10 || r.MaxGroup < 2 {
				bad(where, "max_candidates up to 24 and max_group 2 to 10 (the subset search is bounded)")
			}
		case "N:M":
			if r.MaxCandidates == 0 {
				r.MaxCandidates = 10
			}
			if r.MaxCandidates < 2 || r.MaxCandidates > MaxManyToMany {
				bad(where, "max_candidates 2 to %d for N:M (every subset of each side is tried)", MaxManyToMany)
			}
			if r.Reference == "none" {
				bad(where, "N:M groups records sharing a reference or batch id: reference none is not allowed")
			}
			if r.Amount.Absolute != "" || r.Amount.Percent != "" || r.Amount.Fee != "" {
				bad(where, "N:M totals must agree exactly: no amount tolerance")
			}
		default:
			bad(where, "cardinality %q: want 1:1, 1:N, N:1 or N:M", r.Cardinality)
		}
		if r.UniqueAmount && r.Cardinality != "1:1" {
			bad(where, "unique_amount is for 1:1 rules")
		}
		if r.KeyPrefix != "" {
			r.KeyPrefix = NormalizeRef(r.KeyPrefix)
			if r.Reference != "contains" {
				bad(where, "key_prefix needs reference: contains (it chooses among the reference keys)")
			}
		}
		if r.WholeGroup && r.Cardinality != "1:N" {
			bad(where, "whole_group is for 1:N rules (one bank entry, every ledger item of its id)")
		}
		switch r.Expand {
		case "":
		case "counterparty":
			if r.Cardinality != "1:N" || r.WholeGroup {
				bad(where, "expand: counterparty is for 1:N rules (the items a reference names anchor the group; with reference none the counterparty's items make it up)")
			}
			if r.Counterparty.MinSimilarity == 0 {
				bad(where, "expand: counterparty needs counterparty.min_similarity (which items are the counterparty's)")
			}
		default:
			bad(where, "expand %q: want counterparty or nothing", r.Expand)
		}
		if r.FXRates && r.Cardinality != "1:1" {
			bad(where, "fx_rates is for 1:1 rules")
		}
		switch r.Variance {
		case "", "fee", "fx":
		default:
			bad(where, "variance %q: want fee or fx", r.Variance)
		}
		if r.Confidence == 0 {
			r.Confidence = 10000
		}
		if r.Confidence < 0 || r.Confidence > 10000 || r.MinConfidence < 0 || r.MinConfidence > 10000 {
			bad(where, "confidence and min_confidence: 0 to 10000 basis points")
		}
		switch r.Action {
		case "", "auto":
			r.Action = "auto"
		case "propose":
		default:
			bad(where, "action %q: want auto or propose", r.Action)
		}
		if r.Reference == "none" && r.Counterparty.MinSimilarity == 0 && r.abs.IsZero() && r.pct.IsZero() && r.Cardinality == "1:1" && r.Action == "auto" {
			// Allowed, but amount-and-date-only auto matching is the classic
			// source of false matches: note it in the error list only when
			// the window is wide.
			if r.Date.Before+r.Date.After > 6 {
				bad(where, "reference none with a %d-day window auto-matches on amount alone; narrow the window, require counterparty similarity or use action: propose", r.Date.Before+r.Date.After)
			}
		}
	}
	return errors.Join(errs...)
}

// maxWindows is the widest date window of the calendar-day rules and of
// the business-day rules (late_only rules aside); with no window at all,
// 3 calendar days.
func (c *Config) maxWindows() (calendarDays, businessDays int) {
	for _, r := range c.Rules {
		if r.LateOnly {
			continue
		}
		if r.Date.BusinessDays {
			businessDays = max(businessDays, r.Date.Before, r.Date.After)
		} else {
			calendarDays = max(calendarDays, r.Date.Before, r.Date.After)
		}
	}
	if calendarDays == 0 && businessDays == 0 {
		calendarDays = 3
	}
	return calendarDays, businessDays
}

func (x *Extractor) apply(text, folded string, keys []string) []string {
	if x.re == nil || !mayMatch(text, folded, x.req) {
		return keys
	}
	var buf [64]byte
	for _, loc := range x.re.FindAllStringSubmatchIndex(text, -1) {
		key := buf[:0]
		for _, p := range x.tmpl {
			if p.group == 0 {
				key = append(key, p.lit...)
				continue
			}
			v := ""
			if loc[2*p.group] >= 0 {
				v = strings.TrimLeft(text[loc[2*p.group]:loc[2*p.group+1]], "0")
			}
			if w, ok := x.Pad[p.group]; ok {
				for n := len(v); n < w; n++ {
					key = append(key, '0')
				}
			} else if v == "" {
				v = "0"
			}
			key = append(key, v...)
		}
		keys = append(keys, NormalizeRef(string(key)))
	}
	return keys
}
