package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/telemetry"
	"github.com/openrecon/recon/services/console"
	"github.com/openrecon/recon/services/ingestor"
	"github.com/openrecon/recon/services/loader"
	"github.com/openrecon/recon/services/matcher"
	"github.com/openrecon/recon/services/notifier"
)

// runnable is a service as main runs it.
type runnable interface {
	Run(ctx context.Context) error
	Ready() error
}

// common are the settings every service command has besides its own.
type common struct {
	logLevel, logFormat, opsAddr string
}

func (c *common) register(l *config.Loader, opsAddr string) {
	l.String(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	l.String(&c.logFormat, "log-format", "json", "json or text")
	l.String(&c.opsAddr, "ops-addr", opsAddr, "address of /metrics, /healthz, /readyz (empty: off)")
}

// settings is a service's configuration: it registers its own settings
// (defaults are the values it holds) and validates them without I/O.
type settings interface {
	Register(l *config.Loader)
	Validate() error
}

// service is what differs between the service commands.
type service struct {
	name, opsAddr string
	cfg           settings // a pointer to the service's Config, from its Defaults
	build         func(ctx context.Context, log *slog.Logger, metrics *prometheus.Registry) (runnable, error)
}

// run parses the settings, builds the service and serves it with its
// operational endpoints until ctx ends.
func (s service) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	l := config.New("recon " + s.name)
	l.FlagSet().SetOutput(stderr)
	l.SetPrintOutput(stdout)
	s.cfg.Register(l)
	c.register(l, s.opsAddr)
	if _, err := l.Parse(args); err != nil {
		return err
	}
	if err := s.cfg.Validate(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := telemetry.NewLogger(os.Stderr, c.logLevel, c.logFormat)
	metrics := telemetry.NewRegistry()
	svc, err := s.build(ctx, log, metrics)
	if err != nil {
		return err
	}
	ops, err := telemetry.Serve(c.opsAddr, metrics, telemetry.Checks{s.name: svc.Ready}, log, nil)
	if err != nil {
		return err
	}
	defer ops.Close()
	return svc.Run(ctx)
}

// serviceCommand is the command of one service: its settings start from
// defaults, build makes the service from the parsed configuration.
func serviceCommand[C any, P interface {
	*C
	settings
}](name, opsAddr string, defaults func() C, build func(context.Context, C, *slog.Logger, *prometheus.Registry) (runnable, error)) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		cfg := defaults()
		return service{name: name, opsAddr: opsAddr, cfg: P(&cfg),
			build: func(ctx context.Context, log *slog.Logger, metrics *prometheus.Registry) (runnable, error) {
				return build(ctx, cfg, log, metrics)
			}}.run(ctx, args, stdout, stderr)
	}
}

var (
	runIngestor = serviceCommand("ingestor", ":9101", ingestor.Defaults,
		func(ctx context.Context, c ingestor.Config, log *slog.Logger, m *prometheus.Registry) (runnable, error) {
			return ingestor.New(ctx, c, ingestor.Deps{Log: log, Metrics: m})
		})
	runMatcher = serviceCommand("matcher", ":9102", matcher.Defaults,
		func(ctx context.Context, c matcher.Config, log *slog.Logger, m *prometheus.Registry) (runnable, error) {
			return matcher.New(ctx, c, matcher.Deps{Log: log, Metrics: m})
		})
	runLoader = serviceCommand("loader", ":9103", loader.Defaults,
		func(ctx context.Context, c loader.Config, log *slog.Logger, m *prometheus.Registry) (runnable, error) {
			return loader.New(ctx, c, loader.Deps{Log: log, Metrics: m})
		})
	runNotifier = serviceCommand("notifier", ":9104", notifier.Defaults,
		func(ctx context.Context, c notifier.Config, log *slog.Logger, m *prometheus.Registry) (runnable, error) {
			return notifier.New(ctx, c, notifier.Deps{Log: log, Metrics: m})
		})
	runConsole = serviceCommand("console", ":9105", console.Defaults,
		func(ctx context.Context, c console.Config, log *slog.Logger, m *prometheus.Registry) (runnable, error) {
			svc, err := console.New(ctx, c, console.Deps{Log: log, Metrics: m})
			switch {
			case err != nil:
			case c.Demo.Enabled && c.Demo.Password == "": // generated: the only way to learn it
				fmt.Fprintf(os.Stderr, "recon console: %s (demo users viewer, preparer, preparer2, approver, admin, editor; password %s)\n", svc.URL(), svc.DemoPassword)
			case c.Demo.Enabled:
				fmt.Fprintf(os.Stderr, "recon console: %s (demo users viewer, preparer, preparer2, approver, admin, editor; the password you set)\n", svc.URL())
			}
			return svc, err
		})
)
