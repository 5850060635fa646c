package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/config"
)

// runAudit verifies the console's audit chain in a case store: every
// entry's hash is SHA-256 of the previous hash and its content. It prints
// the result as JSON and fails, naming the first broken link, when the
// chain does not verify.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return errors.New("usage: recon audit verify --database-url URL")
	}
	var url string
	l := config.New("recon audit verify")
	l.FlagSet().SetOutput(stderr)
	l.String(&url, "database-url", "", "the console's case store: postgres://… or sqlite:PATH")
	if _, err := l.Parse(args[1:]); err != nil {
		return err
	}
	if url == "" {
		return errors.New("--database-url is required")
	}
	st, err := casestore.Open(ctx, url)
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := st.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(v)
	fmt.Fprintln(stdout, string(b))
	if !v.Valid {
		return fmt.Errorf("audit chain broken at entry %d: %s", v.BrokenAt, v.Problem)
	}
	return nil
}
