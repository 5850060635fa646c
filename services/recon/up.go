package main

import (
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/telemetry"
	"github.com/openrecon/recon/services/ingestor"
)

// runUp runs the services in one process on embedded defaults: an
// in-process Kafka (kfake) and a local inbox folder.
func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var dataDir, opsAddr, logLevel string
	var partitions int
	var demo bool
	l := config.New("recon up")
	l.FlagSet().SetOutput(stderr)
	l.String(&dataDir, "data-dir", "recon-data", "folder for the inbox and results")
	l.String(&opsAddr, "ops-addr", "127.0.0.1:9100", "address of /metrics, /healthz, /readyz")
	l.String(&logLevel, "log-level", "info", "debug, info, warn or error")
	l.Int(&partitions, "partitions", 4, "partitions of the keyed topics")
	l.Bool(&demo, "demo", false, "drop the sample bank statement and ledger files into the inbox")
	if _, err := l.Parse(args); err != nil {
		return err
	}
	inbox := filepath.Join(dataDir, "inbox")
	for _, d := range []string{filepath.Join(inbox, "bank"), filepath.Join(inbox, "ledger")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	log := telemetry.NewLogger(stderr, logLevel, "text")
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(partitions), kafka.TopicBankTransactions, kafka.TopicLedgerTransactions))
	if err != nil {
		return fmt.Errorf("embedded kafka: %w", err)
	}
	defer cluster.Close()
	kc := kafka.Config{Brokers: cluster.ListenAddrs(), Partitions: int32(partitions), ReplicationFactor: 1, Provision: true, ClientID: "recon-up"}
	reg := telemetry.NewRegistry()
	icfg := ingestor.Config{Kafka: kc, TransactionalID: "recon-up-ingestor", Inbox: inbox,
		PollInterval: 500 * time.Millisecond, MaxFileSize: 2 << 30, TempDir: os.TempDir(), TransactionTimeout: 5 * time.Minute}
	ing, err := ingestor.New(ctx, icfg, ingestor.Deps{Log: log, Registry: reg})
	if err != nil {
		return err
	}
	ops, err := telemetry.Serve(opsAddr, reg, telemetry.Checks{"ingestor": ing.Ready}, log, nil)
	if err != nil {
		return err
	}
	defer ops.Close()
	abs, _ := filepath.Abs(inbox)
	fmt.Fprintf(stdout, "recon up: embedded Kafka at %s\n  inbox:   %s (drop files into bank/ or ledger/)\n  metrics: http://%s/metrics\n  done files move to %s, bad ones to %s\nCtrl-C stops.\n",
		cluster.ListenAddrs()[0], abs, ops.Addr, filepath.Join(abs, ingestor.ProcessedDir), filepath.Join(abs, ingestor.QuarantineDir))
	if demo {
		if err := copyDemo(inbox); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "  demo files copied into the inbox")
	}
	return ing.Run(ctx)
}

//go:embed demo
var demoFiles embed.FS

// copyDemo writes the embedded sample files into the inbox, keeping their
// bank/ and ledger/ folders.
func copyDemo(inbox string) error {
	return fs.WalkDir(demoFiles, "demo", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := demoFiles.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(inbox, strings.TrimPrefix(p, "demo/"))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}
