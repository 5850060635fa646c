package ingestor

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
)

// fileLedger knows which file digests were ingested. Its durable form is the
// compacted topic recon.files (one outcome per digest, written in the same
// transaction as the file's records); at start-up it is read to its end, and
// a background reader keeps following what other instances commit.
type fileLedger struct {
	mu     sync.RWMutex
	byHash map[string]*record.FileEvent
	// The booked statements of the files ingested, by content digest and
	// by slot (statements.go).
	byContent, bySlot map[string]stmtSeen
	cancel            context.CancelFunc
	done              chan struct{}
}

func loadFileLedger(ctx context.Context, kc kafka.Config, codec *avro.Codec[record.FileEvent], log *slog.Logger) (*fileLedger, error) {
	l := &fileLedger{byHash: map[string]*record.FileEvent{}, byContent: map[string]stmtSeen{}, bySlot: map[string]stmtSeen{}, done: make(chan struct{})}
	cl, err := kafka.NewClient(kc,
		kgo.ConsumeTopics(kc.Topic(kafka.TopicFiles)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// The last offsets of a transactional topic are commit markers:
		// seeing them tells that the reader is at the end.
		kgo.KeepControlRecords(),
		kgo.ClientID(kc.WithDefaults().ClientID+"-files"),
	)
	if err != nil {
		return nil, err
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, kc.Topic(kafka.TopicFiles))
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("file ledger: list end offsets: %w", err)
	}
	target := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			target[o.Partition] = o.Offset
		}
	})
	apply := func(r *kgo.Record) {
		if r.Attrs.IsControl() {
			return
		}
		fe, err := codec.Decode(ctx, r.Value)
		if err != nil {
			log.Warn("file ledger: undecodable record", "offset", r.Offset, "err", err)
			return
		}
		if fe.Outcome == record.OutcomeIngested && fe.Digest != "" {
			l.add(fe)
		}
	}
	start := time.Now()
	// Read to the end offsets seen at start (markers included). A partition
	// also counts as caught up when a fetch brings nothing new: the end of a
	// transaction that a crash left open (aborted without a marker) is
	// never delivered.
	for len(target) > 0 {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fetches := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			cl.Close()
			return nil, ctx.Err()
		}
		if fetches.Empty() {
			break
		}
		fetches.EachRecord(func(r *kgo.Record) {
			apply(r)
			if r.Offset+1 >= target[r.Partition] {
				delete(target, r.Partition)
			}
		})
	}
	log.Info("file ledger loaded", "files", len(l.byHash), "seconds", time.Since(start).Seconds())
	fctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() {
		defer close(l.done)
		defer cl.Close()
		for fctx.Err() == nil {
			fetches := cl.PollFetches(fctx)
			fetches.EachRecord(apply)
		}
	}()
	return l, nil
}

func (l *fileLedger) ingested(digest string) (*record.FileEvent, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	fe, ok := l.byHash[digest]
	return fe, ok
}

func (l *fileLedger) add(fe *record.FileEvent) {
	l.mu.Lock()
	if _, ok := l.byHash[fe.Digest]; !ok {
		l.byHash[fe.Digest] = fe
	}
	for _, line := range fe.StatementDigests {
		if st, ok := parseSeen(line, fe); ok {
			if _, dup := l.byContent[st.content]; !dup {
				l.byContent[st.content] = st
			}
			if _, dup := l.bySlot[st.slot]; !dup {
				l.bySlot[st.slot] = st
			}
		}
	}
	l.mu.Unlock()
}

// statement says whether st was received before: its content (a
// duplicate), or another content in its slot (a conflict).
func (l *fileLedger) statement(st stmtSeen) (prev stmtSeen, duplicate, conflict bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if p, ok := l.byContent[st.content]; ok {
		return p, true, false
	}
	if p, ok := l.bySlot[st.slot]; ok {
		return p, false, true
	}
	return stmtSeen{}, false, false
}

func (l *fileLedger) close() {
	l.cancel()
	<-l.done
}
