package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
)

// channelLines bounds the items one channel message lists.
const channelLines = 20

// escalate notifies the escalations of recs not notified before: a log
// line each, one webhook digest per recipient, one channel message for
// all; then records them as notified.
func (s *Service) escalate(ctx context.Context, recs []*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	var es []*record.Escalation
	for _, r := range recs {
		e, err := s.esc.Decode(ctx, r.Value)
		if err != nil {
			s.log.Error("undecodable escalation sent to the DLQ", "partition", r.Partition, "offset", r.Offset, "err", err)
			if err := kafka.DeadLetter(ctx, s.cl, s.cfg.Kafka.Topic(kafka.TopicDLQ), r, "notify", err); err != nil {
				return err
			}
			continue
		}
		es = append(es, e)
	}
	fresh, err := unseen(ctx, s, es, func(e *record.Escalation) string { return s.escalatedKey(e.EscalationID) })
	if err != nil || len(fresh) == 0 {
		return err
	}
	byRecipient := map[string][]*record.Escalation{}
	var recipients []string
	for _, e := range fresh {
		if byRecipient[e.Recipient] == nil {
			recipients = append(recipients, e.Recipient)
		}
		byRecipient[e.Recipient] = append(byRecipient[e.Recipient], e)
		if s.cfg.Log {
			s.log.Info("escalation", "escalation_id", e.EscalationID, "kind", string(e.Kind), "level", e.Level, "subject_id", e.SubjectID,
				"recipient", e.Recipient, "account", e.Account, "currency", e.Currency, "age", e.Age, "sla", e.SLA)
		}
	}
	sort.Strings(recipients)
	if s.cfg.Log {
		s.m.sent.WithLabelValues("log").Add(float64(len(fresh)))
	}
	if s.cfg.WebhookURL != "" {
		for _, who := range recipients {
			list := byRecipient[who]
			err := s.post(ctx, escalationKey(list), Message{Type: "escalations.digest", Recipient: who, Escalations: list})
			if err != nil && !errors.Is(err, errRefused) {
				return err
			}
			if err != nil {
				s.log.Error("webhook refused an escalation digest; it is not sent again", "recipient", who, "escalations", len(list), "err", err)
			} else {
				s.m.sent.WithLabelValues("webhook").Add(float64(len(list)))
			}
		}
	}
	if s.cfg.channelURL != "" {
		body, _ := json.Marshal(map[string]string{"text": channelText(recipients, byRecipient)})
		err := s.postTo(ctx, "channel", s.cfg.channelURL, escalationKey(fresh), body, false)
		if err != nil && !errors.Is(err, errRefused) {
			return err
		}
		if err != nil {
			s.log.Error("the channel refused an escalation message; it is not sent again", "escalations", len(fresh), "err", err)
		} else {
			s.m.sent.WithLabelValues("channel").Add(float64(len(fresh)))
		}
	}
	pipe := s.rdb.Pipeline()
	for _, e := range fresh {
		pipe.Set(ctx, s.escalatedKey(e.EscalationID), "1", s.cfg.DedupeTTL)
		s.m.escalations.WithLabelValues(string(e.Kind), fmt.Sprint(e.Level)).Inc()
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("dedupe record: %w", err)
	}
	s.escalated.Add(int64(len(fresh)))
	return nil
}

// Escalated is the number of escalations notified since start.
func (s *Service) Escalated() int64 { return s.escalated.Load() }

func (s *Service) escalatedKey(id string) string { return s.cfg.RedisPrefix + ":escalated:" + id }

func escalationKey(es []*record.Escalation) string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.EscalationID
	}
	return idsKey("escalations-", ids)
}

// channelText is the channel message: counts per recipient, then the items
// (at most channelLines).
func channelText(recipients []string, by map[string][]*record.Escalation) string {
	var b strings.Builder
	n := 0
	for _, who := range recipients {
		n += len(by[who])
	}
	fmt.Fprintf(&b, "Reconciliation escalations: %d\n", n)
	for _, who := range recipients {
		breaks, reqs, stmts := 0, 0, 0
		for _, e := range by[who] {
			switch e.Kind {
			case record.EscalateApproval:
				reqs++
			case record.EscalateStatement:
				stmts++
			default:
				breaks++
			}
		}
		var parts []string
		if breaks > 0 {
			parts = append(parts, plural(breaks, "break past its SLA", "breaks past their SLA"))
		}
		if reqs > 0 {
			parts = append(parts, plural(reqs, "request waiting for an approver", "requests waiting for an approver"))
		}
		if stmts > 0 {
			parts = append(parts, plural(stmts, "missing or inconsistent statement", "missing or inconsistent statements"))
		}
		fmt.Fprintf(&b, "- %s: %s\n", who, strings.Join(parts, ", "))
	}
	shown := 0
	for _, who := range recipients {
		for _, e := range by[who] {
			if shown == channelLines {
				fmt.Fprintf(&b, "… and %d more\n", n-shown)
				return b.String()
			}
			shown++
			what := fmt.Sprintf("break %s %s %s %s", e.Reason, e.Account, e.Amount, e.Currency)
			switch e.Kind {
			case record.EscalateApproval:
				what = fmt.Sprintf("%s request on %s %s", e.Reason, e.Account, e.Currency)
			case record.EscalateStatement:
				what = e.Detail
			}
			fmt.Fprintf(&b, "level %d · %s · waiting %s (SLA %s) · %s · %s\n", e.Level, what, e.Age, e.SLA, who, e.URL)
		}
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
