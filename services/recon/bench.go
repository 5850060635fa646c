package main

import (
	"context"
	"io"
	"os"
	"runtime/pprof"

	"github.com/openrecon/recon/internal/bench"
	"github.com/openrecon/recon/internal/config"
)

// runBench measures the pipeline on real servers (scripts/recon-bench.sh
// starts them).
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg bench.Config
	l := config.New("recon bench")
	l.FlagSet().SetOutput(stderr)
	l.List(&cfg.Brokers, "kafka-brokers", []string{"localhost:9092"}, "Kafka brokers")
	l.String(&cfg.RedisURL, "redis-url", "redis://localhost:6379/0", "Redis")
	l.String(&cfg.DatabaseURL, "database-url", "", "PostgreSQL for the loader and the SQL baseline (empty: skip both)")
	l.Int(&cfg.Pairs, "pairs", 100000, "matching pairs for the throughput phase (records = 2 x pairs)")
	l.Int(&cfg.Pending, "pending", 50000, "unmatched records for the memory phase")
	l.Int(&cfg.Partitions, "partitions", 4, "partitions of the run's topics")
	l.Int(&cfg.Matchers, "matchers", 1, "matcher instances")
	l.Int(&cfg.MaxBatch, "max-batch", 0, "records per matcher poll (0: the matcher's default)")
	l.Int(&cfg.WaitReplicas, "redis-wait-replicas", 0, "replicas a batch waits for on a Redis Cluster (the matchers' redis-wait-replicas)")
	l.Int(&cfg.LatencySecs, "latency-seconds", 10, "length of the latency phase")
	l.String(&cfg.PeerData, "peer-data", "", "also write the generated bank.csv and ledger.csv to this folder, for a peer benchmark on the same data")
	var profile string
	l.String(&profile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	if _, err := l.Parse(args); err != nil {
		return err
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cfg.Out = stdout
	_, err := bench.Run(ctx, cfg)
	return err
}
