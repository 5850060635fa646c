package matcher

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
)

// TestOpenTransactionHoldsIdle, on real Kafka and Redis: a bank record
// waits while its ledger counterpart is being produced in a transaction
// that takes longer than idle-advance (a large file). The open
// transaction holds the partition's idle advancement, so the record does
// not break; once the transaction commits the pair matches. A record with
// no counterpart and no transaction in flight still breaks on time.
func TestOpenTransactionHoldsIdle(t *testing.T) {
	l := liveServers(t, "hold", 2*time.Minute)
	if err := l.cl.ProduceSync(l.ctx, l.txRecord(t, tx("b1", record.Bank, "INV-1", "", 10000, 2, false))).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cfg := l.config()
	cfg.MinPending, cfg.IdleAdvance = time.Millisecond, 300*time.Millisecond
	m := l.start(t, cfg)
	l.decided(t, m, 1)

	// The ledger file: one transaction, written but not yet committed.
	txp := l.begin(t)
	if err := txp.ProduceSync(l.ctx, l.txRecord(t, tx("l1", record.Ledger, "INV-1", "", 10000, 2, false))).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Several idle-advance periods pass with the transaction open.
	for held := 0.0; held < 3; held = testutil.ToFloat64(m.m.idleHeld) {
		if ms, bs := outputsOf(t, l.kc); len(ms) != 0 || len(bs) != 0 {
			t.Fatalf("while the ledger's transaction is open: %d matches, %d breaks %+v", len(ms), len(bs), bs)
		}
		if l.ctx.Err() != nil {
			t.Fatal("idle advancement was never held for the open transaction")
		}
	}
	if err := txp.EndTransaction(l.ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	// Then a bank record with no counterpart, and no transaction open:
	// it breaks after idle-advance.
	if err := l.cl.ProduceSync(l.ctx, l.txRecord(t, tx("b2", record.Bank, "INV-2", "", 777, 2, false))).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for {
		ms, bs := outputsOf(t, l.kc)
		if len(ms) == 1 && len(bs) == 1 {
			if ms[0].Bank[0].ID != "b1" || ms[0].Ledger[0].ID != "l1" || bs[0].Record.ID != "b2" {
				t.Fatalf("match %+v, break %+v", ms[0], bs[0])
			}
			return
		}
		if len(ms) > 1 || len(bs) > 1 || l.ctx.Err() != nil {
			t.Fatalf("%d matches, %d breaks: %+v %+v", len(ms), len(bs), ms, bs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// outputsOf reads every committed match and break so far on kc's
// (prefixed) topics.
func outputsOf(t *testing.T, kc kafka.Config) ([]*record.Match, []*record.Break) {
	t.Helper()
	cl, err := kafka.NewClient(kc, kgo.ConsumeTopics(kc.Topic(kafka.TopicMatches), kc.Topic(kafka.TopicBreaks)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	mc, _ := avro.NewMatchCodec(ctx, avro.Embedded{}, "m")
	bc, _ := avro.NewBreakCodec(ctx, avro.Embedded{}, "b")
	var ms []*record.Match
	var bs []*record.Break
	for {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		f := cl.PollFetches(pctx)
		cancel()
		if f.Empty() {
			return ms, bs
		}
		f.EachRecord(func(r *kgo.Record) {
			if r.Topic == kc.Topic(kafka.TopicMatches) {
				x, err := mc.Decode(ctx, r.Value)
				if err != nil {
					t.Fatal(err)
				}
				ms = append(ms, x)
				return
			}
			x, err := bc.Decode(ctx, r.Value)
			if err != nil {
				t.Fatal(err)
			}
			bs = append(bs, x)
		})
	}
}

// TestUnsortedFileWaits, on real Kafka and Redis: bank records of a
// month wait in their windows; then the ledger's file comes, one
// transaction, its postings in the reverse order of their dates (a ledger
// export sorted by document number, say), read in many small polls. Its
// first records move the ledger's time to the month's end, past every
// bank record's window, while most counterparts are still unread; the
// windows wait until the file is read, so every pair matches and nothing
// breaks.
func TestUnsortedFileWaits(t *testing.T) {
	l := liveServers(t, "unsorted", 2*time.Minute)
	const pairs = 6000
	// Four accounts, so both partitions have records.
	var bank, ledger []*kgo.Record
	for i := range pairs {
		day := 1 + i*28/pairs
		for _, side := range []record.Side{record.Bank, record.Ledger} {
			x := tx(fmt.Sprintf("%s%d", side, i), side, fmt.Sprintf("INV-%05d", i), "", int64(100+i), day, false)
			x.Account = fmt.Sprintf("DE%02d", i%4)
			if side == record.Bank {
				bank = append(bank, l.txRecord(t, x))
			} else {
				ledger = append(ledger, l.txRecord(t, x))
			}
		}
	}
	slices.Reverse(ledger)
	if err := l.cl.ProduceSync(l.ctx, bank...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cfg := l.config()
	cfg.MinPending, cfg.IdleAdvance, cfg.MaxBatch = time.Millisecond, time.Hour, 20
	m := l.start(t, cfg)
	l.decided(t, m, pairs)
	txp := l.begin(t)
	if err := txp.ProduceSync(l.ctx, ledger...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := txp.EndTransaction(l.ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	l.decided(t, m, 2*pairs)
	ms, bs := outputsOf(t, l.kc)
	if len(ms) != pairs || len(bs) != 0 {
		t.Fatalf("%d matches of %d pairs, %d breaks (the first: %+v)", len(ms), pairs, len(bs), firstOf(bs))
	}
}

func firstOf(bs []*record.Break) *record.Break {
	if len(bs) == 0 {
		return nil
	}
	return bs[0]
}

// TestOpenTransactionPausesOtherSide, on real Kafka and Redis: the bank's
// file is committed, the ledger's is still being written (an open
// transaction). The bank is read only a lead ahead of the ledger and then
// waits in Kafka instead of filling the window; once the ledger's file
// commits, both are read and every pair matches.
func TestOpenTransactionPausesOtherSide(t *testing.T) {
	l := liveServers(t, "writing", 2*time.Minute)
	const pairs, lead, batch = 3000, 200, 50
	var bank, ledger []*kgo.Record
	for i := range pairs {
		bank = append(bank, l.txRecord(t, tx(fmt.Sprintf("bank%d", i), record.Bank, fmt.Sprintf("INV-%05d", i), "", int64(100+i), 1+i%20, false)))
		ledger = append(ledger, l.txRecord(t, tx(fmt.Sprintf("ledger%d", i), record.Ledger, fmt.Sprintf("INV-%05d", i), "", int64(100+i), 1+i%20, false)))
	}
	if err := l.cl.ProduceSync(l.ctx, bank...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	txp := l.begin(t)
	if err := txp.ProduceSync(l.ctx, ledger[:1]...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	cfg := l.config()
	cfg.MinPending, cfg.IdleAdvance, cfg.MaxLead, cfg.MaxBatch = time.Hour, time.Hour, lead, batch
	m := l.start(t, cfg)
	for testutil.ToFloat64(m.m.paused) == 0 {
		if l.ctx.Err() != nil || m.Processed() == pairs {
			t.Fatalf("the bank was never paused while the ledger's file was written (%d records read)", m.Processed())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Paused, the bank stays paused: a second later no more than a
	// lead and a few polls of it have been read.
	time.Sleep(time.Second)
	if n := m.Processed(); n > lead+4*batch {
		t.Fatalf("%d bank records read while the ledger's file was being written, want at most %d", n, lead+4*batch)
	}
	if err := txp.ProduceSync(l.ctx, ledger[1:]...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := txp.EndTransaction(l.ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	l.decided(t, m, 2*pairs)
	if ms, bs := outputsOf(t, l.kc); len(ms) != pairs || len(bs) != 0 {
		t.Fatalf("%d matches of %d pairs, %d breaks", len(ms), pairs, len(bs))
	}
}
