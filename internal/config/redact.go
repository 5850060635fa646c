package config

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
)

// secretWords mark a setting, or a URL query parameter, whose value is a
// secret.
var secretWords = []string{"password", "secret", "token", "apikey", "api-key", "api_key", "sig", "signature", "credential"}

func secretName(name string) bool {
	n := strings.ToLower(name)
	if strings.HasSuffix(n, "-file") {
		return false // a path to the secret, not the secret
	}
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Redact returns a setting's value as it may be shown: a secret setting
// as ***, a URL without its password and secret query parameters (the
// rest kept, so the printout still says where things are).
func Redact(name, value string) string {
	if value == "" {
		return ""
	}
	if secretName(name) {
		return "***"
	}
	var parts []string
	for _, v := range strings.Split(value, ",") {
		parts = append(parts, redactURL(v))
	}
	return strings.Join(parts, ",")
}

func redactURL(v string) string {
	if !strings.Contains(v, "://") {
		return v
	}
	u, err := url.Parse(v)
	if err != nil {
		return "***" // unparseable: it may hold anything
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxx")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if secretName(k) {
				q.Set(k, "xxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return strings.ReplaceAll(u.String(), "xxx", "***")
}

// Print writes every setting as "name = value" in name order, secrets
// redacted (--print-config).
func (l *Loader) Print(w io.Writer) {
	var names []string
	vals := map[string]string{}
	l.fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "print-config" {
			return
		}
		names = append(names, f.Name)
		vals[f.Name] = f.Value.String()
	})
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "%s = %s\n", n, Redact(n, vals[n]))
	}
}
