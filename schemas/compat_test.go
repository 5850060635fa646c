package schemas_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/schemas"
)

// TestSchemasParse: every schema is valid Avro and documents every field.
func TestSchemasParse(t *testing.T) {
	for _, name := range schemas.Names() {
		text, err := schemas.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := goavro.NewCodec(text); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, ok := schemas.EmbeddedIDs[name]; !ok {
			t.Errorf("%s has no embedded id", name)
		}
	}
}

// previousVersion returns the last committed version of file that differs
// from the working copy: HEAD's when the file is changed, else the one
// before the last commit that touched it. ok is false for a new file.
func previousVersion(t *testing.T, file string) (string, bool) {
	t.Helper()
	git := func(args ...string) (string, error) {
		out, err := exec.Command("git", args...).Output()
		return string(out), err
	}
	if _, err := git("rev-parse", "--git-dir"); err != nil {
		if os.Getenv("RECON_REQUIRE_SERVERS") != "" {
			t.Fatalf("git history is needed for the compatibility check: %v", err)
		}
		t.Skip("not a git checkout")
	}
	current, _ := os.ReadFile(file)
	if head, err := git("show", "HEAD:./"+file); err == nil && head != string(current) {
		return head, true
	}
	revs, err := git("log", "--format=%H", "--", file)
	if err != nil {
		t.Fatal(err)
	}
	list := strings.Fields(revs)
	for _, rev := range list {
		old, err := git("show", rev+"^:./"+file)
		if err != nil {
			return "", false // the file was added in rev
		}
		if old != string(current) {
			return old, true
		}
	}
	return "", false
}

// TestBackwardCompatible: each schema reads data written with its previous
// committed version (new fields need defaults, no narrowing, no removed enum
// symbols).
func TestBackwardCompatible(t *testing.T) {
	for _, name := range schemas.Names() {
		file := name + ".avsc"
		old, ok := previousVersion(t, file)
		if !ok {
			t.Logf("%s: no previous version", file)
			continue
		}
		current, _ := schemas.Get(name)
		if err := avro.CheckBackward(old, current); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
}
