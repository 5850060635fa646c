package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/engine"
	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/telemetry"
	"github.com/openrecon/recon/services/loader"
	"github.com/openrecon/recon/services/matcher"
	"github.com/openrecon/recon/services/notifier"
)

// runnable is a service as main runs it.
type runnable interface {
	Run(ctx context.Context) error
	Ready() error
}

// common are the settings every service command has.
type common struct {
	logLevel, logFormat, opsAddr string
	reg                          kafka.RegistryFlags
}

func (c *common) register(l *config.Loader, opsAddr string) {
	l.String(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	l.String(&c.logFormat, "log-format", "json", "json or text")
	l.String(&c.opsAddr, "ops-addr", opsAddr, "address of /metrics, /healthz, /readyz (empty: off)")
	c.reg.Register(l)
}

// serve runs svc with its operational endpoints until ctx ends.
func serve(ctx context.Context, name string, c common, reg *prometheus.Registry, log *slog.Logger, svc runnable) error {
	ops, err := telemetry.Serve(c.opsAddr, reg, telemetry.Checks{name: svc.Ready}, log, nil)
	if err != nil {
		return err
	}
	defer ops.Close()
	return svc.Run(ctx)
}

func parseConfig(l *config.Loader, args []string, stderr io.Writer, finish ...func()) error {
	l.FlagSet().SetOutput(stderr)
	if _, err := l.Parse(args); err != nil {
		return err
	}
	for _, f := range finish {
		f()
	}
	return nil
}

// service is what differs between the service commands.
type service struct {
	name, opsAddr string
	kafka         *kafka.Config
	declare       func(l *config.Loader)              // the service's own settings
	finish        func(reg kafka.RegistryFlags) error // after parsing: apply and validate
	build         func(ctx context.Context, log *slog.Logger, reg *prometheus.Registry) (runnable, error)
}

// run parses the settings, builds the service and serves it until ctx ends.
func (s service) run(ctx context.Context, args []string, stderr io.Writer) error {
	var c common
	l := config.New("recon " + s.name)
	fk := s.kafka.Register(l, "recon-"+s.name)
	c.register(l, s.opsAddr)
	s.declare(l)
	if err := parseConfig(l, args, stderr, fk); err != nil {
		return err
	}
	if err := s.finish(c.reg); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := telemetry.NewLogger(os.Stderr, c.logLevel, c.logFormat)
	reg := telemetry.NewRegistry()
	svc, err := s.build(ctx, log, reg)
	if err != nil {
		return err
	}
	return serve(ctx, s.name, c, reg, log, svc)
}

func runMatcher(ctx context.Context, args []string, _, stderr io.Writer) error {
	var cfg matcher.Config
	var rulesFile string
	return service{name: "matcher", opsAddr: ":9102", kafka: &cfg.Kafka,
		declare: func(l *config.Loader) {
			l.String(&cfg.Group, "group", "recon-matcher", "consumer group over the transaction topics")
			l.String(&cfg.RedisURL, "redis-url", "redis://localhost:6379/0", "Redis holding the window state")
			l.String(&cfg.RedisPrefix, "redis-prefix", "recon", "prefix of the Redis keys")
			l.String(&rulesFile, "rules", "", "rules file (YAML) replacing the built-in rule set")
			l.Int(&cfg.RetentionDays, "retention-days", 62, "days a break stays matchable by a late counterpart")
			l.Int(&cfg.MaxBatch, "max-batch", 20000, "records per poll (a round: each partition's share is decided and applied as one batch)")
			l.Duration(&cfg.MinPending, "min-pending", 30*time.Second, "least time a record waits in its window before it can become a break")
			l.Duration(&cfg.IdleAdvance, "idle-advance", time.Minute, "advance a quiet partition's stream time to today after this long (0: off)")
		},
		finish: func(reg kafka.RegistryFlags) error {
			if rulesFile != "" {
				rules, err := engine.LoadConfig(rulesFile)
				if err != nil {
					return err
				}
				cfg.Rules = rules
			}
			cfg.RegistryURL, cfg.RegistryUser, cfg.RegistryPasswordFile = reg.URL, reg.User, reg.PasswordFile
			return cfg.Validate()
		},
		build: func(ctx context.Context, log *slog.Logger, reg *prometheus.Registry) (runnable, error) {
			return matcher.New(ctx, cfg, matcher.Deps{Log: log, Registry: reg})
		},
	}.run(ctx, args, stderr)
}

func runLoader(ctx context.Context, args []string, _, stderr io.Writer) error {
	var cfg loader.Config
	return service{name: "loader", opsAddr: ":9103", kafka: &cfg.Kafka,
		declare: func(l *config.Loader) {
			l.String(&cfg.Group, "group", "recon-loader", "consumer group over matches and breaks")
			l.String(&cfg.DatabaseURL, "database-url", "", "warehouse: postgres://…, redshift://… or sqlite:PATH")
			l.Int(&cfg.BatchSize, "batch-size", 5000, "records per warehouse transaction at most")
			l.Duration(&cfg.BatchInterval, "batch-interval", time.Second, "longest wait to fill a batch")
		},
		finish: func(reg kafka.RegistryFlags) error {
			cfg.RegistryURL, cfg.RegistryUser, cfg.RegistryPasswordFile = reg.URL, reg.User, reg.PasswordFile
			return cfg.Validate()
		},
		build: func(ctx context.Context, log *slog.Logger, reg *prometheus.Registry) (runnable, error) {
			return loader.New(ctx, cfg, loader.Deps{Log: log, Registry: reg})
		},
	}.run(ctx, args, stderr)
}

func runNotifier(ctx context.Context, args []string, _, stderr io.Writer) error {
	var cfg notifier.Config
	return service{name: "notifier", opsAddr: ":9104", kafka: &cfg.Kafka,
		declare: func(l *config.Loader) {
			l.String(&cfg.Group, "group", "recon-notifier", "consumer group over breaks")
			l.String(&cfg.RedisURL, "redis-url", "redis://localhost:6379/0", "Redis remembering notified breaks")
			l.String(&cfg.RedisPrefix, "redis-prefix", "recon", "prefix of the Redis keys")
			l.String(&cfg.WebhookURL, "webhook-url", "", "POST breaks here (JSON, HMAC-SHA256 signed)")
			l.String(&cfg.WebhookSecretFile, "webhook-secret-file", "", "file holding the webhook signing secret")
			l.Duration(&cfg.Digest, "digest", 0, "send at most one webhook message per interval carrying many breaks (0: one per break)")
			l.Int(&cfg.MaxAttempts, "max-attempts", 0, "delivery tries per message (0: until delivered)")
			l.Bool(&cfg.Log, "log-breaks", true, "log one line per break")
		},
		finish: func(reg kafka.RegistryFlags) error {
			cfg.RegistryURL, cfg.RegistryUser, cfg.RegistryPasswordFile = reg.URL, reg.User, reg.PasswordFile
			return cfg.Validate()
		},
		build: func(ctx context.Context, log *slog.Logger, reg *prometheus.Registry) (runnable, error) {
			return notifier.New(ctx, cfg, notifier.Deps{Log: log, Registry: reg})
		},
	}.run(ctx, args, stderr)
}
