package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/services/ingestor"
	"github.com/openrecon/recon/services/loader"
	"github.com/openrecon/recon/services/matcher"
	"github.com/openrecon/recon/services/notifier"
)

// Every service's settings default to its Defaults (the values are written
// once), parse into the same Config, and validate without reading a file:
// a missing secret file is Load's error, naming the file.
func TestServiceSettings(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-secret")
	for _, tc := range []struct {
		name     string
		cfg      settings
		defaults any
		args     []string
	}{
		{"ingestor", ptr(ingestor.Defaults()), ingestor.Defaults(), []string{"--s3-access-key", "AK", "--s3-secret-key-file", missing}},
		{"matcher", ptr(matcher.Defaults()), matcher.Defaults(), []string{"--rules", missing}},
		{"loader", ptr(loader.Defaults()), loader.Defaults(), []string{"--database-url", "sqlite:x.db"}},
		{"notifier", ptr(notifier.Defaults()), notifier.Defaults(), []string{"--webhook-url", "http://127.0.0.1:1/h", "--webhook-secret-file", missing}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := config.New("recon " + tc.name)
			tc.cfg.Register(l)
			if _, err := l.Parse(nil); err != nil {
				t.Fatal(err)
			}
			if got, want := withoutFuncs(tc.cfg), withoutFuncs(tc.defaults); !reflect.DeepEqual(got, want) {
				t.Errorf("parsed without settings:\n got  %+v\n want %+v", got, want)
			}
			l = config.New("recon " + tc.name)
			tc.cfg.Register(l)
			if _, err := l.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if err := tc.cfg.Validate(); err != nil {
				t.Errorf("Validate read something: %v", err)
			}
			loader, ok := tc.cfg.(interface{ Load() error })
			if !ok {
				return
			}
			if err := loader.Load(); err == nil || !strings.Contains(err.Error(), missing) {
				t.Errorf("Load: %v, want an error naming %s", err, missing)
			}
		})
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("the missing file exists")
	}
}

func ptr[T any](v T) *T { return &v }

// withoutFuncs is a Config by value without its func fields (the clock).
func withoutFuncs(v any) any {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	c := reflect.New(rv.Type()).Elem()
	c.Set(rv)
	for i := 0; i < c.NumField(); i++ {
		if c.Field(i).Kind() == reflect.Func && c.Field(i).CanSet() {
			c.Field(i).Set(reflect.Zero(c.Field(i).Type()))
		}
	}
	return c.Interface()
}
