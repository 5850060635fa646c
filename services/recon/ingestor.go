package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/telemetry"
	"github.com/openrecon/recon/services/ingestor"
)

func runIngestor(ctx context.Context, args []string, _, stderr io.Writer) error {
	var cfg ingestor.Config
	var logLevel, logFormat string
	l := config.New("recon ingestor")
	l.FlagSet().SetOutput(stderr)
	cfg.Register(l)
	l.String(&logLevel, "log-level", "info", "debug, info, warn or error")
	l.String(&logFormat, "log-format", "json", "json or text")
	if _, err := l.Parse(args); err != nil {
		return err
	}
	cfg.Finish()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := telemetry.NewLogger(os.Stderr, logLevel, logFormat)
	reg := telemetry.NewRegistry()
	svc, err := ingestor.New(ctx, cfg, ingestor.Deps{Log: log, Registry: reg})
	if err != nil {
		return err
	}
	ops, err := telemetry.Serve(cfg.OpsAddr, reg, telemetry.Checks{"ingestor": svc.Ready}, log, nil)
	if err != nil {
		return err
	}
	defer ops.Close()
	return svc.Run(ctx)
}
