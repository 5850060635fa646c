package telemetry

import (
	"log/slog"
	"regexp"
	"strings"
)

// iban finds IBAN-shaped words: a country code, two check digits and 11 to
// 30 letters or digits (the shortest IBAN, Norway's, has 15 characters).
var iban = regexp.MustCompile(`\b[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}\b`)

// MaskAccount shows an account number by its last four characters only.
func MaskAccount(s string) string {
	if len(s) <= 4 {
		return s
	}
	return "****" + s[len(s)-4:]
}

// Mask masks the IBANs in a text to their last four characters.
func Mask(s string) string {
	if !iban.MatchString(s) {
		return s
	}
	return iban.ReplaceAllStringFunc(s, MaskAccount)
}

// accountKeys are log attributes that hold an account (or an
// account|currency key): masked whatever their shape.
var accountKeys = map[string]bool{"account": true, "key": true, "first_key": true, "acct": true}

// maskAttr is the loggers' ReplaceAttr: account attributes and IBANs in
// any text (the message, errors) are masked, so a log never carries a full
// account number.
func maskAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		v := a.Value.String()
		if accountKeys[a.Key] {
			acct, cur, ok := strings.Cut(v, "|")
			if ok {
				return slog.String(a.Key, MaskAccount(acct)+"|"+cur)
			}
			return slog.String(a.Key, MaskAccount(v))
		}
		if m := Mask(v); m != v {
			return slog.String(a.Key, m)
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok && err != nil {
			if m := Mask(err.Error()); m != err.Error() {
				return slog.String(a.Key, m)
			}
		}
	}
	return a
}
