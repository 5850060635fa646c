package console

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/workflow"
)

// DemoSeed is what the demo's people have done by the time a visitor
// signs in (`recon up --demo`): the first days of an account signed off
// (requested by the preparer, approved by the approver), a sign-off of
// another account waiting for its approver, and a write-off requested
// for the open break whose text is WriteOff.
type DemoSeed struct {
	Signed, Waiting DemoDays
	WriteOff        string
}

// DemoDays are days of one account.
type DemoDays struct {
	Account, Currency string
	From, To          record.Date
}

// The demo's people, as the demo identity provider names them.
var (
	demoPreparer  = workflow.User{Name: "preparer", Roles: []workflow.Role{workflow.Preparer}}
	demoPreparer2 = workflow.User{Name: "preparer2", Roles: []workflow.Role{workflow.Preparer}}
	demoApprover  = workflow.User{Name: "approver", Roles: []workflow.Role{workflow.Approver}}
)

// PlayDemo does what seed says through the same checks a person's
// requests pass, each step once its data is in (it retries while the
// feed still loads the demo's files, for up to `patience`). A step done
// already (a restart) counts as done.
func (s *Service) PlayDemo(ctx context.Context, seed DemoSeed, patience time.Duration) error {
	// A day is signed off once both sides' records of it are in (the
	// statements alone would balance against an empty ledger).
	in := func(d DemoDays) error {
		b, err := s.balance(ctx, d.Account, d.Currency, d.To)
		if err != nil {
			return err
		}
		if b.Bank.BeforeCount+b.Bank.DayCount == 0 || b.Ledger.BeforeCount+b.Ledger.DayCount == 0 {
			return fmt.Errorf("the statements and the ledger of %s %s are not in yet", d.Account, d.Currency)
		}
		return nil
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"sign-off", func() error {
			if err := in(seed.Signed); err != nil {
				return err
			}
			so, err := s.wf.RequestSignoff(ctx, demoPreparer, SignoffRequest{Account: seed.Signed.Account, Currency: seed.Signed.Currency,
				DateFrom: seed.Signed.From.String(), Date: seed.Signed.To.String(), Comment: "Statement, ledger and open items checked"})
			if err != nil {
				return err
			}
			_, err = s.wf.Decide(ctx, demoApprover, so.SignoffID, workflow.Approve, "Agreed with the bank statements")
			return err
		}},
		{"sign-off request", func() error {
			if err := in(seed.Waiting); err != nil {
				return err
			}
			_, err := s.wf.RequestSignoff(ctx, demoPreparer, SignoffRequest{Account: seed.Waiting.Account, Currency: seed.Waiting.Currency,
				DateFrom: seed.Waiting.From.String(), Date: seed.Waiting.To.String(), Comment: "Reconciled; the open items are timing"})
			return err
		}},
		{"write-off request", func() error {
			bs, _, err := s.store.ListBreaks(ctx, casestore.Filter{Text: seed.WriteOff, Limit: 1})
			if err != nil {
				return err
			}
			if len(bs) == 0 {
				return errors.New("its break is not in yet")
			}
			_, err = s.wf.Act(ctx, demoPreparer2, ActionRequest{Action: string(workflow.WriteOff), BreakIDs: []string{bs[0].BreakID}, ReasonCode: "bank_fee",
				Comment: "Monthly account fee, booked to bank charges"})
			return err
		}},
	}
	deadline := time.Now().Add(patience)
	for _, st := range steps {
		for {
			err := st.do()
			var refused *workflow.Error
			switch {
			case err == nil:
				s.log.Info("demo: done", "step", st.name)
			case errors.As(err, &refused) && (refused.Code == "already_signed_off" || refused.Code == "pending_request"):
				s.log.Info("demo: done before", "step", st.name)
				err = nil
			}
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("demo %s: %w", st.name, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}
