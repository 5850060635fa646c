// Package bench measures the pipeline on real servers: matcher throughput,
// ingest-to-decision latency at half that rate, Redis memory per pending
// record, CPU per 1,000 records per service, loader rows/s, and the same
// data reconciled by a set-based SQL query in PostgreSQL (the batch
// baseline teams use today), side by side from one run.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/gen"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/redisconn"
	"github.com/openrecon/recon/services/ingestor"
	"github.com/openrecon/recon/services/loader"
	"github.com/openrecon/recon/services/matcher"
)

// Config is one benchmark run.
type Config struct {
	Brokers     []string
	RedisURL    string
	DatabaseURL string
	Pairs       int // matching pairs for the throughput phase (records = 2 x pairs)
	// PeerData, when set, is a folder the run's generated files are
	// written to as well, for a peer (the Kafka Streams join) to run on
	// exactly the same data.
	PeerData   string
	Pending    int // unmatched records for the memory phase
	Partitions int
	Matchers   int
	MaxBatch   int // records per matcher poll (0: the matcher's default)
	// WaitReplicas: the matchers' redis-wait-replicas (a Redis Cluster
	// with replicas).
	WaitReplicas int
	LatencySecs  int
	Out          io.Writer
}

// Result is what a run measured.
type Result struct {
	Run              string // names the run's topics ("bench-<run>."), Redis keys and schema
	RecordsPerSec    float64
	P50ms, P99ms     float64
	BytesPerPending  float64
	HeapPerPending   float64 // the matcher's in-memory window, per pending record
	PeakRSSBytes     int64   // the bench process's peak resident memory
	CPUPer1000       map[string]float64
	LoaderRowsPerSec float64
	SQLRecordsPerSec float64
	SQLRatio         float64
}

func cpuSeconds() float64 {
	ru := usage()
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// peakRSS is the process's peak resident memory so far.
func peakRSS() int64 { return int64(usage().Maxrss) * 1024 } // kilobytes on Linux

func usage() syscall.Rusage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// withDefaults fills in what a run leaves unset.
func (cfg Config) withDefaults() Config {
	if cfg.Pairs <= 0 {
		cfg.Pairs = 100000
	}
	if cfg.Pending <= 0 {
		cfg.Pending = 50000
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 4
	}
	if cfg.Matchers <= 0 {
		cfg.Matchers = 1
	}
	if cfg.LatencySecs <= 0 {
		cfg.LatencySecs = 10
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	return cfg
}

// bench is one run: its settings and servers, the data it generated, the
// services of its phases, and what it measured so far.
type bench struct {
	cfg          Config
	id           string // names the run's topics, Redis keys and schema
	kc           kafka.Config
	rdb          redis.UniversalClient
	dir          string // the run's files
	out          io.Writer
	res          *Result
	bank, ledger []byte // the generated files
	records      int
	ing          *ingestor.Service
	ms           []*matcher.Service
}

// Run runs every phase and prints the report, ending with the bench line.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	id := strconv.FormatInt(time.Now().UnixNano(), 36)
	b := &bench{cfg: cfg, id: id, out: cfg.Out, res: &Result{Run: id, CPUPer1000: map[string]float64{}}, records: 2 * cfg.Pairs,
		kc: kafka.Config{Brokers: cfg.Brokers, TopicPrefix: "bench-" + id + ".", Partitions: int32(cfg.Partitions), ReplicationFactor: 1, Provision: true}}
	var err error
	if b.rdb, err = redisconn.Open(cfg.RedisURL); err != nil {
		return nil, err
	}
	defer b.rdb.Close()
	if b.dir, err = os.MkdirTemp("", "recon-bench"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.dir)
	// The run's topics, Redis keys and tables go when it ends: repeated
	// runs must not measure the leftovers of earlier ones.
	defer cleanup(b.kc, b.rdb, cfg.DatabaseURL, "bench-"+id, "bench_"+id)
	// The matchers run from the throughput phase to the end of the
	// memory phase.
	mctx, stop := context.WithCancel(ctx)
	defer stop()
	for _, phase := range []func() error{
		b.data,
		func() error { return b.ingest(ctx) },
		func() error { return b.throughput(ctx, mctx) },
		func() error { return latency(ctx, b.kc, cfg, b.res, b.out) },
		func() error { return b.memory(ctx) },
		func() error { stop(); return b.warehouse(ctx) },
	} {
		if err := phase(); err != nil {
			return nil, err
		}
	}
	b.report()
	return b.res, nil
}

// data generates the run's files, and copies them to PeerData.
func (b *bench) data() error {
	var bankBuf, ledgerBuf bytes.Buffer
	if _, err := gen.Write(gen.Config{Pairs: b.cfg.Pairs, Accounts: 200, Seed: 1}, &bankBuf, &ledgerBuf); err != nil {
		return err
	}
	b.bank, b.ledger = bankBuf.Bytes(), ledgerBuf.Bytes()
	dirs := []string{b.dir}
	if b.cfg.PeerData != "" {
		if err := os.MkdirAll(b.cfg.PeerData, 0o755); err != nil {
			return err
		}
		dirs = append(dirs, b.cfg.PeerData)
	}
	for _, d := range dirs {
		for name, data := range map[string][]byte{"bank.csv": b.bank, "ledger.csv": b.ledger} {
			if err := os.WriteFile(filepath.Join(d, name), data, 0o644); err != nil {
				return err
			}
		}
	}
	if b.cfg.PeerData != "" {
		fmt.Fprintf(b.out, "peer data: %s (bank.csv, ledger.csv: the files this run ingests; ../shared/peers/kafka-streams/run.sh %s)\n", b.cfg.PeerData, b.cfg.PeerData)
	}
	return nil
}

// ingest reads both files into the topics; the ingestor stays for the
// memory phase's files.
func (b *bench) ingest(ctx context.Context) error {
	icfg := ingestor.Defaults()
	icfg.Kafka, icfg.TransactionalID, icfg.Manual, icfg.ConsumeEvents = b.kc, "bench-"+b.id, true, false
	icfg.MaxFileSize, icfg.TempDir, icfg.TransactionTimeout = 4<<30, b.dir, 10*time.Minute
	ing, err := ingestor.New(ctx, icfg, ingestor.Deps{Log: quiet(), Metrics: prometheus.NewRegistry()})
	if err != nil {
		return err
	}
	b.ing = ing
	c0, t0 := cpuSeconds(), time.Now()
	for _, f := range []struct {
		name string
		side record.Side
	}{{"bank.csv", record.Bank}, {"ledger.csv", record.Ledger}} {
		if _, err := ing.IngestPath(ctx, filepath.Join(b.dir, f.name), f.name, f.side); err != nil {
			ing.Close()
			return err
		}
	}
	secs := time.Since(t0).Seconds()
	b.res.CPUPer1000["ingestor"] = (cpuSeconds() - c0) / float64(b.records) * 1000
	fmt.Fprintf(b.out, "ingest: %d records in %.2fs (%.0f records/s)\n", b.records, secs, float64(b.records)/secs)
	return nil
}

// processed is how many records the matchers decided.
func (b *bench) processed() int64 {
	var n int64
	for _, m := range b.ms {
		n += m.Processed()
	}
	return n
}

// throughput starts the matchers (they run until mctx ends) and times
// them catching up on the ingested backlog.
func (b *bench) throughput(ctx, mctx context.Context) error {
	mcfg := matcher.Defaults()
	mcfg.Kafka, mcfg.Group, mcfg.RedisPrefix, mcfg.MinPending, mcfg.IdleAdvance = b.kc, "bench-"+b.id, "bench-"+b.id, time.Hour, 0
	mcfg.RedisWaitReplicas = b.cfg.WaitReplicas
	if b.cfg.MaxBatch > 0 {
		mcfg.MaxBatch = b.cfg.MaxBatch
	}
	for i := 0; i < b.cfg.Matchers; i++ {
		m, err := matcher.New(mctx, mcfg, matcher.Deps{Log: quiet(), Metrics: prometheus.NewRegistry(), Redis: b.rdb})
		if err != nil {
			return err
		}
		b.ms = append(b.ms, m)
		go func() { _ = m.Run(mctx) }()
	}
	// The clock starts once every matcher consumes with partitions
	// claimed (the group join is not throughput), before the first round
	// of a small backlog can finish.
	ready := func() bool {
		for _, m := range b.ms {
			if m.Ready() != nil {
				return false
			}
		}
		return true
	}
	for !ready() && b.processed() == 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(time.Millisecond)
	}
	c0, t0 := cpuSeconds(), time.Now()
	r0 := redisCPU(ctx, b.rdb)
	start, records := b.processed(), int64(b.records)
	if start >= records {
		return fmt.Errorf("matcher: the whole backlog (%d records) was decided before the clock started; use more --pairs", records)
	}
	for b.processed() < records {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(5 * time.Millisecond)
	}
	secs := time.Since(t0).Seconds()
	b.res.RecordsPerSec = float64(records-start) / secs
	b.res.CPUPer1000["matcher"] = (cpuSeconds() - c0) / float64(records-start) * 1000
	b.res.CPUPer1000["redis (server, matcher phase)"] = (redisCPU(ctx, b.rdb) - r0) / float64(records-start) * 1000
	fmt.Fprintf(b.out, "matcher: %d records in %.2fs: %.0f records/s with %d matcher(s), %d partitions\n",
		records-start, secs, b.res.RecordsPerSec, b.cfg.Matchers, b.cfg.Partitions)
	return nil
}

// memory ingests two files of records without a counterpart and measures
// what Redis and the matchers' heap hold per pending record.
func (b *bench) memory(ctx context.Context) error {
	before := usedMemory(ctx, b.rdb)
	keysBefore := keyMemory(ctx, b.rdb, "bench-"+b.id)
	// The pending records come in two files: the matchers' heap grows by
	// the second file's records (the slope, clear of buffers that are
	// there in both measurements).
	var heapHalf int64
	for i, n := range []int{b.cfg.Pending / 2, b.cfg.Pending - b.cfg.Pending/2} {
		var pendBuf, empty bytes.Buffer
		if _, err := gen.Write(gen.Config{BankOnly: n, Accounts: 200, Seed: uint64(2 + i)}, &pendBuf, &empty); err != nil {
			return err
		}
		name := fmt.Sprintf("pending-%d.csv", i+1)
		pendPath := filepath.Join(b.dir, name)
		if err := os.WriteFile(pendPath, pendBuf.Bytes(), 0o644); err != nil {
			return err
		}
		target := b.processed() + int64(n)
		if _, err := b.ing.IngestPath(ctx, pendPath, name, record.Bank); err != nil {
			return err
		}
		for b.processed() < target {
			time.Sleep(10 * time.Millisecond)
		}
		if i == 0 {
			heapHalf = heapInUse()
		}
	}
	b.ing.Close()
	after := usedMemory(ctx, b.rdb)
	b.res.BytesPerPending = float64(after-before) / float64(b.cfg.Pending)
	fmt.Fprintf(b.out, "redis: %.0f bytes per pending record (%d pending, used_memory %d -> %d)\n", b.res.BytesPerPending, b.cfg.Pending, before, after)
	if after <= before {
		// Another client of the same server freed memory meanwhile (a
		// shared test server): count the run's own keys instead.
		keysAfter := keyMemory(ctx, b.rdb, "bench-"+b.id)
		b.res.BytesPerPending = float64(keysAfter-keysBefore) / float64(b.cfg.Pending)
		fmt.Fprintf(b.out, "redis: used_memory fell while other clients worked; the run's keys (MEMORY USAGE) grew %d -> %d: %.0f bytes per pending record\n",
			keysBefore, keysAfter, b.res.BytesPerPending)
	}
	// The heap also holds the clients' buffers, which come and go: only a
	// large pending set stands out of that noise.
	if second := b.cfg.Pending - b.cfg.Pending/2; b.cfg.Pending >= minHeapPending {
		if grew := heapInUse() - heapHalf; grew > 0 {
			b.res.HeapPerPending = float64(grew) / float64(second)
			fmt.Fprintf(b.out, "matcher: %.0f bytes of Go heap per pending record (the window's copy in memory: the heap's growth over the second %d)\n", b.res.HeapPerPending, second)
		} else {
			fmt.Fprintf(b.out, "matcher: Go heap per pending record not measurable in this run (the heap did not grow over the second %d pending records)\n", second)
		}
	}
	return nil
}

// warehouse measures the loader and the SQL baseline (with a database).
func (b *bench) warehouse(ctx context.Context) error {
	if b.cfg.DatabaseURL == "" {
		return nil
	}
	if err := loadPhase(ctx, b.kc, b.cfg, b.id, b.res, b.out); err != nil {
		return err
	}
	if err := sqlBaseline(ctx, b.cfg, b.bank, b.ledger, b.res, b.out); err != nil {
		return err
	}
	if b.res.SQLRecordsPerSec > 0 {
		b.res.SQLRatio = b.res.RecordsPerSec / b.res.SQLRecordsPerSec
	}
	return nil
}

// report prints the CPU and memory figures and the bench line.
func (b *bench) report() {
	res, out := b.res, b.out
	for _, k := range slices.Sorted(maps.Keys(res.CPUPer1000)) {
		fmt.Fprintf(out, "cpu: %s %.3f s per 1,000 records\n", k, res.CPUPer1000[k])
	}
	res.PeakRSSBytes = peakRSS()
	fmt.Fprintf(out, "memory: peak RSS of the bench process %d MB (its copy of the generated files, every phase's services and clients)\n", res.PeakRSSBytes>>20)
	fmt.Fprintf(out, "bench: records_per_sec=%.0f p50_ms=%.1f p99_ms=%.1f bytes_per_pending=%.0f sql_ratio=%.2f\n",
		res.RecordsPerSec, res.P50ms, res.P99ms, res.BytesPerPending, res.SQLRatio)
}

// primaries calls fn with each primary of a Redis Cluster in turn, or
// with the one server.
func primaries(ctx context.Context, rdb redis.UniversalClient, fn func(*redis.Client)) {
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		var mu sync.Mutex
		_ = c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			fn(n)
			return nil
		})
	case *redis.Client:
		fn(c)
	}
}

// keyMemory adds up MEMORY USAGE of the keys under prefix.
func keyMemory(ctx context.Context, rdb redis.UniversalClient, prefix string) int64 {
	var n int64
	primaries(ctx, rdb, func(c *redis.Client) {
		iter := c.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			b, err := c.MemoryUsage(ctx, iter.Val(), 0).Result()
			if err == nil {
				n += b
			}
		}
	})
	return n
}

// usedMemory is the memory the Redis primaries use.
func usedMemory(ctx context.Context, rdb redis.UniversalClient) int64 {
	var n int64
	primaries(ctx, rdb, func(c *redis.Client) {
		v, _ := strconv.ParseInt(infoField(ctx, c, "memory", "used_memory"), 10, 64)
		n += v
	})
	return n
}

// redisCPU is the Redis primaries' CPU seconds (user + system) so far.
func redisCPU(ctx context.Context, rdb redis.UniversalClient) float64 {
	var t float64
	primaries(ctx, rdb, func(c *redis.Client) {
		u, _ := strconv.ParseFloat(infoField(ctx, c, "cpu", "used_cpu_user"), 64)
		s, _ := strconv.ParseFloat(infoField(ctx, c, "cpu", "used_cpu_sys"), 64)
		t += u + s
	})
	return t
}

func infoField(ctx context.Context, rdb *redis.Client, section, field string) string {
	info, _ := rdb.Info(ctx, section).Result()
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// cleanup deletes a run's topics, Redis keys (prefix) and schema.
func cleanup(kc kafka.Config, rdb redis.UniversalClient, databaseURL, prefix, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var failed []string
	if cl, err := kafka.NewClient(kc); err == nil {
		var names []string
		for _, t := range kafka.Topics(kc) {
			names = append(names, t.Name)
		}
		if _, err := kadm.NewClient(cl).DeleteTopics(ctx, names...); err != nil {
			failed = append(failed, "topics: "+err.Error())
		}
		cl.Close()
	}
	primaries(ctx, rdb, func(c *redis.Client) {
		iter := c.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Unlink(ctx, iter.Val()) // one key at a time: keys of a node span slots
		}
		if err := iter.Err(); err != nil {
			failed = append(failed, "redis: "+err.Error())
		}
	})
	if databaseURL != "" {
		if conn, err := pgx.Connect(ctx, databaseURL); err == nil {
			if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
				failed = append(failed, "schema: "+err.Error())
			}
			conn.Close(ctx)
		}
	}
	if len(failed) > 0 { // stderr: the bench line stays the report's last
		fmt.Fprintf(os.Stderr, "recon bench: cleanup: %s\n", strings.Join(failed, "; "))
	}
}

// minHeapPending is the least pending count the heap figure is given for.
const minHeapPending = 20000

// heapInUse is the live Go heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// latencyAccount prefixes the accounts of the latency phase's pairs.
const latencyAccount = "LAT"

// latency produces pairs at half the measured rate for LatencySecs and
// measures, for each match, the time from the later member's ingestion to
// the match being readable on the matches topic.
func latency(ctx context.Context, kc kafka.Config, cfg Config, res *Result, out io.Writer) error {
	cl, err := kafka.NewClient(kc)
	if err != nil {
		return err
	}
	defer cl.Close()
	txc, err := avro.NewTransactionCodec(ctx, avro.Embedded{}, "t")
	if err != nil {
		return err
	}
	mc, err := avro.NewMatchCodec(ctx, avro.Embedded{}, "m")
	if err != nil {
		return err
	}
	cons, err := kafka.NewClient(kc, kgo.ConsumeTopics(kc.Topic(kafka.TopicMatches)), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	if err != nil {
		return err
	}
	defer cons.Close()
	rate := res.RecordsPerSec / 2
	n := int(rate * float64(cfg.LatencySecs) / 2) // pairs
	interval := time.Duration(float64(time.Second) * 2 / rate)
	var lat []float64
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.Now().Add(time.Duration(cfg.LatencySecs+30) * time.Second)
		for len(lat) < n && time.Now().Before(deadline) {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			f := cons.PollFetches(pctx)
			cancel()
			now := time.Now()
			f.EachRecord(func(r *kgo.Record) {
				match, err := mc.Decode(ctx, r.Value)
				if err != nil || !strings.HasPrefix(match.Account, latencyAccount) {
					return // not a latency pair: the throughput phase's last outputs can still arrive
				}
				var latest time.Time
				for _, it := range append(match.Bank, match.Ledger...) {
					if it.IngestedAt.After(latest) {
						latest = it.IngestedAt
					}
				}
				lat = append(lat, float64(now.Sub(latest).Microseconds())/1000)
			})
		}
	}()
	time.Sleep(500 * time.Millisecond) // the consumer is at the end of the topic
	next := time.Now()
	for i := 0; i < n; i++ {
		for _, side := range []record.Side{record.Bank, record.Ledger} {
			t := &record.Transaction{ID: fmt.Sprintf("lat-%s-%d", side, i), Side: side, Account: fmt.Sprintf("%s%03d", latencyAccount, i%97), Currency: "EUR",
				Amount: money.New(int64(1000+i), 2), BookingDate: record.MakeDate(2026, 3, 2), Reference: fmt.Sprintf("LAT-%08d", i),
				IngestedAt: time.Now().Truncate(time.Millisecond), SourcePosition: int64(i + 1)}
			if side == record.Bank {
				t.ID = record.ID("b", "latency", int64(i), 0)
			}
			v, err := txc.Encode(nil, t)
			if err != nil {
				return err
			}
			topic := kc.Topic(kafka.TopicBankTransactions)
			if side == record.Ledger {
				topic = kc.Topic(kafka.TopicLedgerTransactions)
			}
			cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(t.Key()), Value: v}, nil)
		}
		next = next.Add(interval)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
	_ = cl.Flush(ctx)
	<-done
	if len(lat) == 0 {
		return fmt.Errorf("latency: no match observed")
	}
	sort.Float64s(lat)
	q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	res.P50ms, res.P99ms = q(0.50), q(0.99)
	fmt.Fprintf(out, "latency at %.0f records/s: p50 %.1f ms, p99 %.1f ms (%d matches)\n", rate, res.P50ms, res.P99ms, len(lat))
	return nil
}

func loadPhase(ctx context.Context, kc kafka.Config, cfg Config, run string, res *Result, out io.Writer) error {
	conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	schema := "bench_" + run
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return err
	}
	sep := "?"
	if strings.Contains(cfg.DatabaseURL, "?") {
		sep = "&"
	}
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	reg := prometheus.NewRegistry()
	lcfg := loader.Defaults()
	lcfg.Kafka, lcfg.Group, lcfg.DatabaseURL, lcfg.BatchInterval = kc, "bench-loader-"+run, cfg.DatabaseURL+sep+"search_path="+schema, 200*time.Millisecond
	l, err := loader.New(lctx, lcfg, loader.Deps{Log: quiet(), Metrics: reg})
	if err != nil {
		return err
	}
	c0, t0 := cpuSeconds(), time.Now()
	go func() { _ = l.Run(lctx) }()
	want := int64(cfg.Pairs) // matches of the throughput phase (plus the latency ones)
	for l.Loaded() < want {
		if time.Since(t0) > 5*time.Minute {
			return fmt.Errorf("loader: %d of %d after 5 minutes", l.Loaded(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	secs := time.Since(t0).Seconds()
	loaded := l.Loaded()
	// One match row and two item rows per match.
	res.LoaderRowsPerSec = float64(loaded*3) / secs
	res.CPUPer1000["loader"] = (cpuSeconds() - c0) / float64(loaded) * 1000
	fmt.Fprintf(out, "loader: %d matches (%d rows) in %.2fs: %.0f rows/s\n", loaded, loaded*3, secs, res.LoaderRowsPerSec)
	return nil
}

// sqlBaseline reconciles the same files the batch way: load both into
// PostgreSQL and match with one set-based query (exact rule: account,
// currency, normalised reference, amount, 5-day window, closest date wins
// on both sides).
func sqlBaseline(ctx context.Context, cfg Config, bank, ledger []byte, res *Result, out io.Writer) error {
	conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	t0 := time.Now()
	for _, ddl := range []string{
		"CREATE TEMP TABLE bank (id BIGINT, account TEXT, currency TEXT, d DATE, amount NUMERIC(38,6), nref TEXT)",
		"CREATE TEMP TABLE ledger (id TEXT, account TEXT, currency TEXT, d DATE, amount NUMERIC(38,6), nref TEXT)",
	} {
		if _, err := conn.Exec(ctx, ddl); err != nil {
			return err
		}
	}
	load := func(table string, data []byte, cols func(f []string, i int) []any) error {
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")[1:]
		rows := make([][]any, 0, len(lines))
		for i, l := range lines {
			rows = append(rows, cols(strings.Split(l, ","), i))
		}
		_, err := conn.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "account", "currency", "d", "amount", "nref"}, pgx.CopyFromRows(rows))
		return err
	}
	date := func(s string) time.Time { t, _ := time.Parse("2006-01-02", s); return t }
	if err := load("bank", bank, func(f []string, i int) []any {
		return []any{int64(i + 1), f[0], f[1], date(f[2]), f[4], engine.NormalizeRef(f[5])}
	}); err != nil {
		return fmt.Errorf("sql baseline: load bank: %w", err)
	}
	if err := load("ledger", ledger, func(f []string, i int) []any {
		return []any{f[0], f[1], f[2], date(f[3]), f[4], engine.NormalizeRef(f[5])}
	}); err != nil {
		return fmt.Errorf("sql baseline: load ledger: %w", err)
	}
	loadSecs := time.Since(t0).Seconds()
	t1 := time.Now()
	var matched int64
	err = conn.QueryRow(ctx, `
		WITH c AS (
		  SELECT b.id AS bid, l.id AS lid,
		    ROW_NUMBER() OVER (PARTITION BY b.id ORDER BY abs(b.d - l.d), l.id) AS rb,
		    ROW_NUMBER() OVER (PARTITION BY l.id ORDER BY abs(b.d - l.d), b.id) AS rl
		  FROM bank b JOIN ledger l
		    ON b.account = l.account AND b.currency = l.currency AND b.nref = l.nref AND b.nref <> ''
		   AND b.amount = l.amount AND abs(b.d - l.d) <= 5)
		SELECT COUNT(*) FROM c WHERE rb = 1 AND rl = 1`).Scan(&matched)
	if err != nil {
		return fmt.Errorf("sql baseline: %w", err)
	}
	querySecs := time.Since(t1).Seconds()
	records := strings.Count(string(bank), "\n") - 1 + strings.Count(string(ledger), "\n") - 1 // data rows, no headers
	res.SQLRecordsPerSec = float64(records) / (loadSecs + querySecs)
	fmt.Fprintf(out, "sql baseline (PostgreSQL, set-based exact rule): %d matches; load %.2fs + query %.2fs: %.0f records/s\n",
		matched, loadSecs, querySecs, res.SQLRecordsPerSec)
	return nil
}
