// Package matcher joins the bank and ledger transaction streams. One
// consumer group reads both topics (and the statement balances, which move
// time); partition N of every topic belongs to the same instance (range
// assignment over co-partitioned topics). Each partition's window state
// lives in Redis (internal/redisstate) and in the owner's memory
// (internal/window); every fetched batch of a partition is decoded, decided
// by the pure decision core (internal/decide, which runs the engine) and
// applied to Redis in one fenced Lua call that also appends the outputs to
// the partition's outbox. The outbox
// is then produced to recon.matches / recon.breaks and trimmed once
// acknowledged.
package matcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/decide"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/redisconn"
	"github.com/openrecon/recon/internal/redisstate"
	"github.com/openrecon/recon/internal/rules"
	"github.com/openrecon/recon/internal/telemetry"
	"github.com/openrecon/recon/internal/window"
)

// Config is the matcher's configuration. Start from Defaults.
type Config struct {
	Kafka          kafka.Config
	Group          string
	SchemaRegistry avro.RegistryConfig

	// RedisURL is redis://host:port/db (or rediss://); RedisPrefix namespaces
	// the keys.
	RedisURL    string
	RedisPrefix string
	// RedisWaitReplicas: a claim or batch counts as done once this many
	// replicas of its Redis primary have it (Redis Cluster with replicas).
	RedisWaitReplicas int

	// Rules seed the rules topic's version 1 when it holds none
	// (DESIGN.md §10); afterwards the topic's versions decide, and Rules
	// give only the calendars and exchange rates.
	Rules engine.Config
	// RulesFile replaces Rules when set (read by Load).
	RulesFile string
	// RulesSource names where Rules came from, for the seeded version's
	// comment (set by Load; "" : the built-in rule set).
	RulesSource string
	// CalendarFile adds to or changes the built-in business-day calendars
	// (read by Load into Rules.Calendars).
	CalendarFile string
	// FXRatesFile holds exchange rates (date,pair,rate) for fx_rates rules
	// (read by Load into Rules.Rates).
	FXRatesFile string
	// RetentionDays keeps a broken record this long after its window closed,
	// so a late counterpart still matches and clears the break.
	RetentionDays int
	// MaxBatch bounds the records taken per poll.
	MaxBatch int
	// HoldWindows keeps every window open until CloseAll (a one-off
	// reconciliation of complete files: the end of input closes them, and
	// the order the two inputs are read in cannot cause early breaks).
	HoldWindows bool
	// MinPending is the least wall-clock time a record stays in the window
	// before it can become a break, so that a counterpart produced moments
	// later (the other file of the same day) still matches first.
	MinPending time.Duration
	// IdleAdvance moves a partition's stream time up to today's date (UTC)
	// once it has had no input for this long, so that windows close on a
	// quiet account (0: only event time moves time).
	IdleAdvance time.Duration
	// MaxLead is how many pending records one side of a partition may
	// hold beyond the other before its topic partition is paused while
	// the other side has unread records (see balancer; 0: never pause).
	MaxLead int
	// Now is the wall clock (min-pending, idle advancement); tests move it.
	Now func() time.Time
}

// Defaults is the configuration the settings, `recon up`, `recon
// reconcile` and the tests start from.
func Defaults() Config {
	return Config{Kafka: kafka.Defaults("recon-matcher"), Group: "recon-matcher", RedisURL: "redis://localhost:6379/0",
		RedisPrefix: "recon", Rules: engine.DefaultConfig(), RetentionDays: 62, MaxBatch: 20000,
		MinPending: 30 * time.Second, IdleAdvance: time.Minute, MaxLead: 10000, Now: time.Now}
}

// Register declares the settings on l, with c's values as their defaults.
func (c *Config) Register(l *config.Loader) {
	c.Kafka.Register(l)
	c.SchemaRegistry.Register(l)
	l.String(&c.Group, "group", c.Group, "consumer group over the transaction topics")
	l.String(&c.RedisURL, "redis-url", c.RedisURL, "Redis holding the window state")
	l.String(&c.RedisPrefix, "redis-prefix", c.RedisPrefix, "prefix of the Redis keys")
	l.Int(&c.RedisWaitReplicas, "redis-wait-replicas", c.RedisWaitReplicas, "replicas of a partition's Redis primary that must have a batch before it counts as applied (WAIT; 1 on a Redis Cluster with replicas, so a failover loses nothing)")
	l.String(&c.RulesFile, "rules", c.RulesFile, "rules file (YAML) replacing the built-in rule set")
	l.String(&c.CalendarFile, "calendar-file", c.CalendarFile, "business-day calendars (YAML): holidays per currency over the built-in ones")
	l.String(&c.FXRatesFile, "fx-rates", c.FXRatesFile, "exchange rates (CSV: date,pair,rate) that make converted receipts exact (fx_rates rules)")
	l.Int(&c.RetentionDays, "retention-days", c.RetentionDays, "days a break stays matchable by a late counterpart")
	l.Int(&c.MaxBatch, "max-batch", c.MaxBatch, "records per poll (a round: each partition's share is decided and applied as one batch)")
	l.Duration(&c.MinPending, "min-pending", c.MinPending, "least time a record waits in its window before it can become a break")
	l.Int(&c.MaxLead, "max-lead", c.MaxLead, "pending records one side of a partition may hold beyond the other before it waits for the other side's unread backlog (0: off)")
	l.Duration(&c.IdleAdvance, "idle-advance", c.IdleAdvance, "advance a quiet partition's stream time to today after this long (0: off)")
}

// Validate reports every configuration mistake at once. It reads no file
// and changes nothing.
func (c Config) Validate() error {
	errs := []error{c.Kafka.Validate()}
	if c.Group == "" {
		errs = append(errs, errors.New("group is empty"))
	}
	if c.RetentionDays <= 0 {
		errs = append(errs, errors.New("retention-days must be positive"))
	}
	if c.MaxBatch <= 0 {
		errs = append(errs, errors.New("max-batch must be positive"))
	}
	if len(c.Rules.Rules) == 0 && c.RulesFile == "" {
		errs = append(errs, errors.New("no matching rules"))
	}
	if c.MinPending < 0 || c.IdleAdvance < 0 || c.MaxLead < 0 {
		errs = append(errs, errors.New("min-pending, idle-advance and max-lead cannot be negative"))
	}
	if c.Now == nil {
		errs = append(errs, errors.New("no clock (start from matcher.Defaults)"))
	}
	if c.HoldWindows && c.IdleAdvance > 0 {
		errs = append(errs, errors.New("hold-windows and idle-advance exclude each other"))
	}
	return errors.Join(errs...)
}

// Load reads what the settings point at: the rules file and the calendar
// file.
func (c *Config) Load() error {
	rules, err := engine.WithFiles(c.Rules, c.RulesFile, c.CalendarFile, c.FXRatesFile)
	if err != nil {
		return err
	}
	if c.RulesFile != "" {
		c.RulesSource = c.RulesFile
	}
	c.Rules, c.RulesFile, c.CalendarFile, c.FXRatesFile = rules, "", "", ""
	return nil
}

// Deps are what the matcher is given.
type Deps struct {
	Log     *slog.Logger
	Metrics prometheus.Registerer // Prometheus registry of the service's metrics
	// Redis overrides RedisURL (miniredis in the all-in-one mode).
	Redis redis.UniversalClient
}

// partition is the in-memory view of a partition this instance owns.
type partition struct {
	epoch      int64
	offsets    map[string]int64
	streamTime record.Date
	clock      window.Clock // each side's time
	lastInput  time.Time    // wall clock of the last input (or the claim)
	lastTick   time.Time
	heldSince  time.Time    // idle advancement held back by an open transaction since
	waited     bool         // a batch ran with decide.Move.Wait: the next one looks at the due windows
	win        *window.Part // the partition's window, as applied to Redis
	// rules are the rules the partition decides with (its window's keys
	// were prepared by them); the partition's stored rule version is
	// rules.version or lower.
	rules *ruleEngine
}

// Service is a running matcher.
type Service struct {
	cfg   Config
	log   *slog.Logger
	m     *metrics
	store *redisstate.Store
	rdb   redis.UniversalClient
	// ruleTopic reads the rule set's versions; active is the newest one
	// that compiled, which every partition switches to at its next batch.
	ruleTopic *rules.Topic
	active    atomic.Pointer[ruleEngine]
	// decideCfg is how the decision core decides (from cfg).
	decideCfg decide.Config

	cl, prod *kgo.Client
	codecs   struct {
		tx    *avro.Codec[record.Transaction]
		stmt  *avro.Codec[record.Statement]
		match *avro.Codec[record.Match]
		brk   *avro.Codec[record.Break]
		res   *avro.Codec[record.Resolution]
		out   *avro.Codec[record.Outcome]
	}
	topics struct{ bank, ledger, stmt, res, matches, breaks, outcomes, dlq string }

	procMu    sync.Mutex // one round of batches at a time (the poll loop, ticks, CloseAll)
	mu        sync.Mutex
	owned     map[int32]*partition
	pendingBy map[int32]map[record.Side]int64
	// partitions are the partition counts of the keyed input topics, read
	// when first needed after each assignment (partitionCount).
	partitions map[string]int32
	bal        *balancer
	// inFlight's last answer, and when it was asked for.
	inFlightAt   time.Time
	inFlightOpen map[tp]bool
	inFlightErr  error
	processed    atomic.Int64 // input records applied (transactions)
	ready        atomic.Bool
}

// New connects to Redis and Kafka.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := config.Prepare(&cfg); err != nil {
		return nil, err
	}
	deps.Log, deps.Metrics = telemetry.Defaults(deps.Log, deps.Metrics)
	s := &Service{cfg: cfg, log: deps.Log.With("service", "matcher"),
		decideCfg: decide.Config{HoldWindows: cfg.HoldWindows, MinPending: cfg.MinPending, RetentionDays: cfg.RetentionDays,
			IdleAdvance: cfg.IdleAdvance},
		owned: map[int32]*partition{}, pendingBy: map[int32]map[record.Side]int64{}, partitions: map[string]int32{}}
	var err error
	if s.m, err = newMetrics(deps.Metrics); err != nil {
		return nil, err
	}
	s.rdb = deps.Redis
	if s.rdb == nil {
		if s.rdb, err = redisconn.Open(cfg.RedisURL); err != nil {
			return nil, err
		}
	}
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	s.store = redisstate.New(s.rdb, cfg.RedisPrefix)
	s.store.WaitReplicas(cfg.RedisWaitReplicas)
	k := cfg.Kafka
	s.topics.bank, s.topics.ledger, s.topics.stmt = k.Topic(kafka.TopicBankTransactions), k.Topic(kafka.TopicLedgerTransactions), k.Topic(kafka.TopicBankStatements)
	s.topics.matches, s.topics.breaks, s.topics.dlq = k.Topic(kafka.TopicMatches), k.Topic(kafka.TopicBreaks), k.Topic(kafka.TopicDLQ)
	s.topics.res, s.topics.outcomes = k.Topic(kafka.TopicResolutions), k.Topic(kafka.TopicOutcomes)
	s.bal = newBalancer(int64(cfg.MaxLead), s.topics.bank, s.topics.ledger)
	for _, t := range []string{s.topics.bank, s.topics.ledger, s.topics.stmt, s.topics.res} {
		s.m.misplaced.WithLabelValues(t)
	}

	if s.prod, err = kafka.NewProducer(ctx, cfg.Kafka, kgo.ClientID(cfg.Kafka.WithDefaults().ClientID+"-out"), kgo.ProducerLinger(0)); err != nil {
		return nil, err
	}
	reg, err := cfg.SchemaRegistry.Open()
	if err != nil {
		s.prod.Close()
		return nil, err
	}
	if s.codecs.tx, err = avro.NewTransactionCodec(ctx, reg, s.topics.bank+"-value"); err == nil {
		s.codecs.stmt, err = avro.NewStatementCodec(ctx, reg, s.topics.stmt+"-value")
	}
	if err == nil {
		s.codecs.match, err = avro.NewMatchCodec(ctx, reg, s.topics.matches+"-value")
	}
	if err == nil {
		s.codecs.brk, err = avro.NewBreakCodec(ctx, reg, s.topics.breaks+"-value")
	}
	if err == nil {
		s.codecs.res, err = avro.NewResolutionCodec(ctx, reg, s.topics.res+"-value")
	}
	if err == nil {
		s.codecs.out, err = avro.NewOutcomeCodec(ctx, reg, s.topics.outcomes+"-value")
	}
	if err == nil {
		err = s.openRules(ctx, reg)
	}
	if err != nil {
		s.prod.Close()
		return nil, err
	}
	s.cl, err = kafka.NewClient(cfg.Kafka,
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(s.topics.bank, s.topics.ledger, s.topics.stmt, s.topics.res),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Commit markers come through too, so that the offsets stored and
		// committed step over them: a consumed transactional topic then
		// shows no lag.
		kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AutoCommitMarks(),
		kgo.BlockRebalanceOnPoll(), // a rebalance waits for the batch in hand
		kgo.AdjustFetchOffsetsFn(s.onAssigned),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onRevoked),
		kgo.ClientID(cfg.Kafka.WithDefaults().ClientID+"-in"),
	)
	if err != nil {
		s.ruleTopic.Close()
		s.prod.Close()
		return nil, err
	}
	return s, nil
}

// Processed is the number of input records (transactions, statements and
// undecodable ones) applied since start, with their outputs published.
func (s *Service) Processed() int64 { return s.processed.Load() }

// Ready reports whether the matcher consumes with partitions assigned.
func (s *Service) Ready() error {
	if !s.ready.Load() {
		return errors.New("not consuming")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.owned) == 0 {
		return errors.New("no partitions assigned")
	}
	return nil
}

// onAssigned claims the newly assigned partitions in Redis (fencing any
// previous owner), publishes what their outboxes still hold, and resumes
// each topic-partition from the offset stored with the state.
func (s *Service) onAssigned(ctx context.Context, offs map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	s.mu.Lock()
	clear(s.partitions) // a rebalance may follow added partitions
	s.mu.Unlock()
	parts := map[int32]bool{}
	for _, ps := range offs {
		for p := range ps {
			parts[p] = true
		}
	}
	for p := range parts {
		t0 := time.Now()
		// The partition decides with the version its last batch used, or
		// a later one: never an earlier one.
		prev, err := s.store.Read(ctx, p)
		if err != nil {
			return nil, err
		}
		re, err := s.rulesFor(ctx, prev.RuleVersion)
		if err != nil {
			return nil, err
		}
		st, win, err := s.store.Claim(ctx, p, re.eng.Prepare)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.owned[p] = &partition{epoch: st.Epoch, offsets: st.Offsets, streamTime: st.StreamTime, clock: st.Clock, lastInput: s.cfg.Now(), win: win,
			rules: re}
		s.mu.Unlock()
		if err := s.drainOutbox(ctx, p); err != nil {
			return nil, err
		}
		for t, ps := range offs {
			if _, ok := ps[p]; ok {
				if o, ok := st.Offsets[t]; ok {
					ps[p] = kgo.NewOffset().At(o).WithEpoch(-1)
				}
			}
		}
		s.setPending(p, win.Pending())
		s.log.Info("partition claimed", "partition", p, "epoch", st.Epoch, "stream_time", st.StreamTime.String(),
			"records", win.Len(), "load_ms", time.Since(t0).Milliseconds())
	}
	return offs, nil
}

func (s *Service) onRevoked(_ context.Context, cl *kgo.Client, revoked map[string][]int32) {
	if resume := s.bal.drop(revoked); len(resume) > 0 {
		cl.ResumeFetchPartitions(resume)
	}
	s.mu.Lock()
	for _, ps := range revoked {
		for _, p := range ps {
			delete(s.owned, p)
			delete(s.pendingBy, p)
		}
	}
	s.mu.Unlock()
}

// setPending records p's pending counts and sets the gauge to the sum over
// the partitions this instance owns.
func (s *Service) setPending(p int32, by map[record.Side]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pendingBy[p] = by
	var bank, ledger int64
	for _, m := range s.pendingBy {
		bank += m[record.Bank]
		ledger += m[record.Ledger]
	}
	s.m.pending.WithLabelValues("bank").Set(float64(bank))
	s.m.pending.WithLabelValues("ledger").Set(float64(ledger))
}

// Run consumes until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	defer s.prod.Close()
	defer s.cl.Close()
	rulesCtx, stopRules := context.WithCancel(ctx)
	defer func() { stopRules(); s.ruleTopic.Close() }()
	go s.ruleTopic.Run(rulesCtx)
	s.ready.Store(true)
	defer s.ready.Store(false)
	// Consumer lag is read beside the poll loop: the admin requests must
	// not stall the batches.
	lagCtx, stopLag := context.WithCancel(ctx)
	defer stopLag()
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-lagCtx.Done():
				return
			case <-t.C:
				s.updateLag(lagCtx)
			}
		}
	}()
	for {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if !s.cfg.HoldWindows {
			pctx, cancel = context.WithTimeout(ctx, time.Second) // ticks close windows on quiet partitions
		}
		fetches := s.cl.PollRecords(pctx, s.cfg.MaxBatch)
		cancel()
		if ctx.Err() != nil {
			s.cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				s.log.Error("fetch failed", "topic", t, "partition", p, "err", err)
			}
		})
		byPart := map[int32][]*kgo.Record{}
		fetches.EachRecord(func(r *kgo.Record) { byPart[r.Partition] = append(byPart[r.Partition], r) })
		parts := make([]int32, 0, len(byPart))
		for p := range byPart {
			parts = append(parts, p)
		}
		sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		now := time.Now()
		s.bal.seen(fetches, now)
		jobs := make([]job, len(parts))
		for i, p := range parts {
			jobs[i] = job{p: p, recs: byPart[p], mv: decide.Move{Wait: s.bal.backlog(p, now)}}
		}
		if err := s.runJobs(ctx, jobs); err != nil {
			// The poll blocked rebalances: Close leaves the group, which
			// waits for them to be allowed again.
			s.cl.AllowRebalance()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, p := range parts {
			s.cl.MarkCommitRecords(byPart[p]...)
		}
		s.balance(now)
		err := s.tick(ctx, byPart)
		s.cl.AllowRebalance()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// tick looks again, at most once a second, at the due windows of owned
// partitions that hold pending records but got no input in this poll, and
// moves the stream time of those quiet for IdleAdvance up to today.
func (s *Service) tick(ctx context.Context, got map[int32][]*kgo.Record) error {
	if s.cfg.HoldWindows {
		return nil
	}
	now := s.cfg.Now()
	jobs := s.ticks(got, now)
	s.holdInFlight(ctx, jobs, now)
	return s.runJobs(ctx, jobs)
}

// ticks returns the tick jobs of the owned partitions that got no input
// in this poll (got), in partition order.
func (s *Service) ticks(got map[int32][]*kgo.Record, now time.Time) []job {
	today := record.Date(now.Unix() / 86400)
	var jobs []job
	s.mu.Lock()
	for p, ps := range s.owned {
		if len(got[p]) > 0 {
			ps.lastInput = now
			continue
		}
		if ps.win.Len() == 0 || now.Sub(ps.lastTick) < time.Second {
			continue
		}
		ps.lastTick = now
		mv := decide.Move{Tick: true, Wait: s.bal.backlog(p, time.Now())}
		if s.cfg.IdleAdvance > 0 && now.Sub(ps.lastInput) >= s.cfg.IdleAdvance && ps.streamTime < today {
			mv.To, mv.Idle = today, true
		}
		jobs = append(jobs, job{p: p, mv: mv})
	}
	s.mu.Unlock()
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].p < jobs[j].p })
	return jobs
}

// holdInFlight takes the idle advancement back from the jobs of
// partitions with a transaction in flight on their input (see inFlight),
// for at most maxInFlightHold. If the broker cannot be asked, time moves
// as before: a hold is an improvement, never a reason to stop.
func (s *Service) holdInFlight(ctx context.Context, jobs []job, now time.Time) {
	idle := false
	for _, j := range jobs {
		idle = idle || j.mv.Idle
	}
	if !idle {
		return
	}
	open, err := s.inFlight(ctx)
	if err != nil {
		s.log.Warn("idle advancement: could not ask for open transactions", "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range jobs {
		j := &jobs[i]
		ps := s.owned[j.p]
		if ps == nil {
			continue
		}
		if !openOn(open, j.p) {
			ps.heldSince = time.Time{}
			continue
		}
		if !j.mv.Idle {
			continue
		}
		if ps.heldSince.IsZero() {
			ps.heldSince = now
			s.log.Info("idle advancement held: a transaction is open on the partition's input", "partition", j.p)
		}
		if now.Sub(ps.heldSince) >= maxInFlightHold {
			s.log.Warn("idle advancement: a transaction has been open on the input too long, closing windows anyway",
				"partition", j.p, "open_for", now.Sub(ps.heldSince).Round(time.Second))
			continue
		}
		s.m.idleHeld.Inc()
		j.mv.To, j.mv.Idle = 0, false
	}
}

// job is one partition's batch: its records and how it moves time.
type job struct {
	p    int32
	recs []*kgo.Record
	mv   decide.Move
}

// runJobs processes the batches of different partitions concurrently
// (their state is disjoint; the waits on Redis and Kafka overlap) and
// returns the first error.
func (s *Service) runJobs(ctx context.Context, jobs []job) error {
	s.procMu.Lock()
	defer s.procMu.Unlock()
	if len(jobs) == 1 {
		return s.processBatch(ctx, jobs[0].p, jobs[0].recs, jobs[0].mv)
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.processBatch(ctx, j.p, j.recs, j.mv)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// CloseAll treats the end of input as the close of every window: every
// owned partition's stream time jumps past all pending records, which
// become breaks. Used by `recon reconcile`.
func (s *Service) CloseAll(ctx context.Context) error {
	s.mu.Lock()
	parts := make([]int32, 0, len(s.owned))
	for p := range s.owned {
		parts = append(parts, p)
	}
	s.mu.Unlock()
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	s.procMu.Lock()
	defer s.procMu.Unlock()
	for _, p := range parts {
		if err := s.processBatch(ctx, p, nil, decide.Move{Final: true}); err != nil {
			return err
		}
	}
	return nil
}

// Owned returns the partitions this instance owns.
func (s *Service) Owned() []int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int32, 0, len(s.owned))
	for p := range s.owned {
		out = append(out, p)
	}
	return out
}

func (s *Service) updateLag(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	lag, err := kafkaLag(lctx, s.cl, s.cfg.Group)
	if err != nil {
		return
	}
	for t, n := range lag {
		s.m.lag.WithLabelValues(t).Set(float64(n))
	}
}
