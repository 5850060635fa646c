package ingestor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/format"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
)

// dlqSampleLimit bounds how much of a quarantined file travels in its DLQ
// record (the file itself stays in quarantine).
const dlqSampleLimit = 256 << 10

// ingest handles one file end to end. A returned error is transient (the
// caller retries); permanent problems end as a QUARANTINED result.
func (s *Service) ingest(ctx context.Context, j *job) (*Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	res := &Result{Bucket: j.bucket, Key: j.key, ETag: j.etag, Side: string(j.side), EventTime: j.eventTime, Size: j.size}
	if res.Key == "" {
		res.Key = j.name
	}

	f, digest, size, err := s.spool(ctx, j)
	if err != nil {
		var perm errPermanent
		if errors.As(err, &perm) {
			return s.quarantine(ctx, j, res, nil, err.Error())
		}
		return nil, err
	}
	defer f.Close()
	res.Digest, res.Size = digest, size
	s.m.bytes.Add(float64(size))

	if prev, ok := s.ledger.ingested(digest); ok {
		res.Outcome, res.Format = record.OutcomeDuplicate, prev.Format
		s.m.files.WithLabelValues(prev.Format, "duplicate").Inc()
		s.log.Info("file already ingested", "file", j.name, "digest", digest, "first_key", prev.Key)
		return res, nil
	}

	if err := s.prod.BeginTransaction(); err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	sink := &producingSink{s: s, ctx: ctx, digest: digest, file: j.name}
	kind, perr := s.parseSafely(ctx, f, format.Source{Name: j.name, Digest: digest, Side: j.side}, sink)
	res.Format = string(kind)
	if perr == nil {
		perr = sink.firstErr()
	}
	var pe *format.ParseError
	if perr != nil && !errors.As(perr, &pe) {
		// Not the file's fault (Kafka, context): abort and retry.
		s.abort(ctx)
		return nil, perr
	}
	if pe != nil {
		s.abort(ctx)
		return s.quarantineFile(ctx, j, res, f, pe.Error())
	}
	sink.flushHeld()
	if perr = sink.firstErr(); perr != nil {
		s.abort(ctx)
		return nil, perr
	}
	var conflicts, dups int
	for _, r := range sink.refused {
		if r.conflict {
			conflicts++
		} else {
			dups++
		}
	}
	if conflicts > 0 {
		s.abort(ctx)
		s.m.statements.WithLabelValues("conflict").Add(float64(conflicts))
		return s.quarantineFile(ctx, j, res, f, refusalsReason(sink.refused, true))
	}
	if dups > 0 {
		s.m.statements.WithLabelValues("duplicate").Add(float64(dups))
		if sink.records == 0 && sink.statements == 0 {
			// Every statement of the file was received before.
			s.abort(ctx)
			return s.refuseDuplicate(ctx, j, res, sink.refused)
		}
		s.produceRefusals(ctx, j, res, sink.refused)
		res.Reason = fmt.Sprintf("%d statement(s) re-sent, refused: %s", dups, refusalsReason(sink.refused, false))
	}
	res.Outcome = record.OutcomeIngested
	res.Records, res.Rejected, res.Statements = sink.records, sink.rejected, sink.statements
	res.StatementDigests = sink.digests
	if err := s.produceOutcome(ctx, res); err != nil {
		s.abort(ctx)
		return nil, err
	}
	if err := s.commit(ctx); err != nil {
		return nil, err
	}
	s.ledger.add(res)
	s.m.files.WithLabelValues(res.Format, "ingested").Inc()
	for side, n := range sink.bySide {
		s.m.records.WithLabelValues(string(side)).Add(float64(n))
	}
	if sink.rejected > 0 {
		s.m.rejected.WithLabelValues(res.Format).Add(float64(sink.rejected))
	}
	s.m.duration.WithLabelValues(res.Format).Observe(time.Since(start).Seconds())
	s.log.Info("file ingested", "file", j.name, "format", res.Format, "digest", digest,
		"records", res.Records, "rejected", res.Rejected, "statements", res.Statements,
		"bytes", size, "seconds", time.Since(start).Seconds())
	return res, nil
}

// parseSafely runs the parser and turns a panic into a file-level error,
// so that no input can crash the ingestor.
func (s *Service) parseSafely(ctx context.Context, r io.Reader, src format.Source, sink format.Sink) (kind format.Kind, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("parser panic", "file", src.Name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = &format.ParseError{File: src.Name, Reason: fmt.Sprintf("internal parser error: %v (reported to the log)", p)}
		}
	}()
	return s.detector.File(ctx, r, src, sink)
}

// quarantineFile quarantines the spooled file f with the start of its
// content in the DLQ record.
func (s *Service) quarantineFile(ctx context.Context, j *job, res *Result, f io.ReadSeeker, reason string) (*Result, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	sample, _ := io.ReadAll(io.LimitReader(f, dlqSampleLimit))
	return s.quarantine(ctx, j, res, sample, reason)
}

// quarantine records a file that cannot be ingested: a DLQ record with the
// reason (and the start of the file) and a QUARANTINED outcome, in one
// transaction; then the file is moved aside.
func (s *Service) quarantine(ctx context.Context, j *job, res *Result, sample []byte, reason string) (*Result, error) {
	res.Outcome, res.Reason = record.OutcomeQuarantined, reason
	if res.Format == "" {
		res.Format = string(format.Unknown)
	}
	if err := s.prod.BeginTransaction(); err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	hdr := kafka.DLQInfo{Stage: "file", Reason: reason, File: j.name, Digest: res.Digest, Format: res.Format,
		Side: string(j.side), Bucket: j.bucket, Truncated: int64(len(sample)) < res.Size}.Headers()
	s.produceAsync(ctx, s.dlqRecord([]byte(j.name), sample, hdr))
	if err := s.produceOutcome(ctx, res); err != nil {
		s.abort(ctx)
		return nil, err
	}
	if err := s.commit(ctx); err != nil {
		return nil, err
	}
	s.m.files.WithLabelValues(res.Format, "quarantined").Inc()
	where := ""
	if j.quarantine != nil {
		var err error
		if where, err = j.quarantine(ctx, reason); err != nil {
			s.log.Error("could not move file to quarantine", "file", j.name, "err", err)
		}
	}
	s.log.Warn("file quarantined", "file", j.name, "reason", reason, "quarantine", where)
	return res, nil
}

// refuseDuplicate records a file whose every statement was received
// before: a DUPLICATE outcome naming them and a DLQ record per statement,
// in one transaction; nothing of it is produced.
func (s *Service) refuseDuplicate(ctx context.Context, j *job, res *Result, refused []refusal) (*Result, error) {
	res.Outcome = record.OutcomeDuplicate
	res.Reason = fmt.Sprintf("every statement (%d) was received before: %s", len(refused), refusalsReason(refused, false))
	if err := s.prod.BeginTransaction(); err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	s.produceRefusals(ctx, j, res, refused)
	if err := s.produceOutcome(ctx, res); err != nil {
		s.abort(ctx)
		return nil, err
	}
	if err := s.commit(ctx); err != nil {
		return nil, err
	}
	s.m.files.WithLabelValues(res.Format, "duplicate").Inc()
	s.log.Warn("file refused: its statements were received before", "file", j.name, "digest", res.Digest, "reason", res.Reason)
	return res, nil
}

// produceRefusals puts a DLQ record per refused statement into the open
// transaction.
func (s *Service) produceRefusals(ctx context.Context, j *job, res *Result, refused []refusal) {
	for _, r := range refused {
		s.produceAsync(ctx, s.dlqRecord([]byte(j.name), nil, kafka.DLQInfo{Stage: "statement", Reason: r.reason(), File: j.name, Digest: res.Digest,
			Format: res.Format, Side: string(j.side), Bucket: j.bucket}.Headers()))
	}
}

func (s *Service) produceOutcome(ctx context.Context, res *Result) error {
	v, err := s.codecs.file.Encode(nil, res)
	if err != nil {
		return err
	}
	key := res.Digest
	if key == "" {
		key = res.Bucket + "/" + res.Key
	}
	s.produceAsync(ctx, &kgo.Record{Topic: s.cfg.Kafka.Topic(kafka.TopicFiles), Key: []byte(key), Value: v})
	return nil
}

// produceAsync produces within the open transaction; errors surface at
// commit through the flush.
func (s *Service) produceAsync(ctx context.Context, r *kgo.Record) {
	s.prod.Produce(ctx, r, s.recordProduced)
}

func (s *Service) recordProduced(r *kgo.Record, err error) {
	if err != nil {
		s.log.Error("produce failed", "topic", r.Topic, "err", err)
	}
}

// commit flushes and commits the transaction; any failed record aborts it.
func (s *Service) commit(ctx context.Context) error {
	if err := s.prod.Flush(ctx); err != nil {
		s.abort(ctx)
		return fmt.Errorf("flush: %w", err)
	}
	if err := s.prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
		s.abort(ctx)
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

func (s *Service) abort(ctx context.Context) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.prod.AbortBufferedRecords(actx); err != nil {
		s.log.Error("abort buffered records", "err", err)
	}
	if err := s.prod.EndTransaction(actx, kgo.TryAbort); err != nil {
		s.log.Error("abort transaction", "err", err)
	}
}

func (s *Service) publishDLQ(ctx context.Context, key, value []byte, hdr map[string]string) error {
	if err := s.prod.BeginTransaction(); err != nil {
		return err
	}
	s.produceAsync(ctx, s.dlqRecord(key, value, hdr))
	if err := s.commit(ctx); err != nil {
		s.m.dlqErrs.Inc()
		return err
	}
	return nil
}

func (s *Service) dlqRecord(key, value []byte, hdr map[string]string) *kgo.Record {
	return &kgo.Record{Topic: s.cfg.Kafka.Topic(kafka.TopicDLQ), Key: key, Value: value, Headers: kafka.RecordHeaders(hdr)}
}

// producingSink turns parsed records into Kafka records of the open
// transaction.
type producingSink struct {
	s      *Service
	ctx    context.Context
	digest string
	file   string

	records, rejected, statements int64
	bySide                        map[record.Side]int64

	// Statement checks (statements.go): entries held per statement id
	// until its balances come, the statements refused, and the digests of
	// those produced (by content and slot within this file).
	held    map[string]*heldStatement
	refused []refusal
	inFile  map[string]stmtSeen
	digests []string

	mu  sync.Mutex
	err error
	buf []byte
}

var _ format.Sink = (*producingSink)(nil)

func (p *producingSink) fail(r *kgo.Record, err error) {
	if err != nil {
		p.mu.Lock()
		if p.err == nil {
			p.err = fmt.Errorf("produce to %s: %w", r.Topic, err)
		}
		p.mu.Unlock()
	}
}

func (p *producingSink) firstErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *producingSink) Transaction(t *record.Transaction) error {
	if err := p.firstErr(); err != nil {
		return err
	}
	t.IngestedAt = time.Now().Truncate(time.Millisecond)
	t.SourceDigest = p.digest
	v, err := p.s.codecs.tx.Encode(nil, t)
	if err != nil {
		return &format.ParseError{File: p.file, Entry: t.SourcePosition, Reason: "encode: " + err.Error(), Err: err}
	}
	topic := p.s.cfg.Kafka.Topic(kafka.TopicBankTransactions)
	if t.Side == record.Ledger {
		topic = p.s.cfg.Kafka.Topic(kafka.TopicLedgerTransactions)
	}
	kr := &kgo.Record{Topic: topic, Key: []byte(t.Key()), Value: v}
	if t.Side == record.Bank && t.StatementID != "" && !t.Provisional {
		// Held until its statement says whether it was received before.
		if p.held == nil {
			p.held = map[string]*heldStatement{}
		}
		h := p.held[t.StatementID]
		if h == nil {
			h = &heldStatement{}
			p.held[t.StatementID] = h
		}
		h.recs = append(h.recs, kr)
		h.keys = append(h.keys, entryKey(t))
		return nil
	}
	p.produceTx(kr, t.Side)
	return nil
}

// heldStatement is a statement's entries waiting for its balances.
type heldStatement struct {
	recs []*kgo.Record
	keys []string
}

func (p *producingSink) produceTx(kr *kgo.Record, side record.Side) {
	p.s.prod.Produce(p.ctx, kr, p.fail)
	p.records++
	if p.bySide == nil {
		p.bySide = map[record.Side]int64{}
	}
	p.bySide[side]++
}

func (p *producingSink) Statement(st *record.Statement) error {
	h := p.held[st.ID]
	delete(p.held, st.ID)
	if h == nil {
		h = &heldStatement{}
	}
	if !st.Provisional && st.ClosingDate != nil {
		fp := fingerprint(st, h.keys)
		fp.fileKey, fp.fileHash = p.file, p.digest
		prev, dup, conflict := p.s.ledger.statement(fp)
		if !dup && !conflict {
			if q, ok := p.inFile[fp.content]; ok {
				prev, dup = q, true
			} else if q, ok := p.inFile[fp.slot]; ok {
				prev, conflict = q, true
			}
		}
		if dup || conflict {
			p.refused = append(p.refused, refusal{got: fp, prev: prev, conflict: conflict})
			return nil // its entries are not produced
		}
		if p.inFile == nil {
			p.inFile = map[string]stmtSeen{}
		}
		p.inFile[fp.content], p.inFile[fp.slot] = fp, fp
		p.digests = append(p.digests, fp.line())
	}
	for _, kr := range h.recs {
		p.produceTx(kr, record.Bank)
	}
	v, err := p.s.codecs.stmt.Encode(nil, st)
	if err != nil {
		return &format.ParseError{File: p.file, Entry: st.SourcePosition, Reason: "encode statement: " + err.Error(), Err: err}
	}
	p.s.prod.Produce(p.ctx, &kgo.Record{Topic: p.s.cfg.Kafka.Topic(kafka.TopicBankStatements), Key: []byte(st.Key()), Value: v}, p.fail)
	p.statements++
	return nil
}

// flushHeld produces entries whose statement never came (a parser that
// rejected the statement keeps its entries): nothing is lost.
func (p *producingSink) flushHeld() {
	ids := make([]string, 0, len(p.held))
	for id := range p.held {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, kr := range p.held[id].recs {
			p.produceTx(kr, record.Bank)
		}
	}
	p.held = nil
}

// logRejects is how many rejected entries per file are logged one by one;
// all of them go to the DLQ.
const logRejects = 10

func (p *producingSink) Reject(e *format.ParseError) error {
	p.rejected++
	if p.rejected <= logRejects {
		p.s.log.Warn("entry rejected", "file", e.File, "line", e.Line, "field", e.Field, "err", e.Error())
	}
	hdr := kafka.DLQInfo{Stage: "parse", Error: e.Error(), File: e.File, Reason: e.Reason, Field: e.Field,
		Digest: p.digest, Entry: e.Entry, Line: e.Line, Path: e.Path}.Headers()
	p.s.prod.Produce(p.ctx, p.s.dlqRecord([]byte(e.File), e.Raw, hdr), p.fail)
	return nil
}
