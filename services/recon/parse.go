package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/csvformat"
	"github.com/openrecon/recon/internal/format"
	"github.com/openrecon/recon/internal/parse"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/services/ingestor"
)

// runParse prints one JSON object per statement and transaction (DESIGN.md
// §6) on stdout and one line per bad entry on stderr. It exits non-zero when
// a file could not be read or an entry was rejected.
func runParse(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	l := config.New("recon parse")
	var sideFlag, profilesPath string
	var countOnly bool
	l.String(&sideFlag, "side", "", "bank or ledger (default: from the file's folder, then its content)")
	l.Bool(&countOnly, "count", false, "print only the counts (and peak memory), not the records")
	l.String(&profilesPath, "csv-profiles", "", "CSV mapping profile (YAML) or folder of them, beside the built-in ones")
	l.FlagSet().SetOutput(stderr)
	l.FlagSet().Usage = func() {
		fmt.Fprintln(stderr, "usage: recon parse [--side bank|ledger] FILE...")
		l.FlagSet().PrintDefaults()
	}
	files, err := l.Parse(args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		l.FlagSet().Usage()
		return errUsage
	}
	var profiles []*csvformat.Profile
	if profilesPath != "" {
		if profiles, err = csvformat.LoadProfiles(profilesPath); err != nil {
			return err
		}
	}
	det := parse.NewDetector(profiles...)
	var side record.Side
	if sideFlag != "" {
		if side, err = record.ParseSide(sideFlag); err != nil {
			return err
		}
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	sink := &jsonSink{enc: json.NewEncoder(out), stderr: stderr, quiet: countOnly}
	failed := 0
	for _, name := range files {
		s := side
		if s == "" {
			s = ingestor.SideOf(filepath.ToSlash(name))
		}
		if err := parseOne(ctx, det, name, s, sink); err != nil {
			fmt.Fprintln(stderr, err)
			failed++
		}
	}
	if err := out.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "parsed %d file(s): %d statement(s), %d transaction(s), %d rejected entr(ies), %d unreadable file(s)\n",
		len(files), sink.statements, sink.transactions, sink.rejects, failed)
	if countOnly {
		if hwm := peakRSS(); hwm != "" {
			fmt.Fprintf(stderr, "peak memory (VmHWM): %s\n", hwm)
		}
	}
	if failed > 0 || sink.rejects > 0 {
		return fmt.Errorf("%d unreadable file(s), %d rejected entr(ies)", failed, sink.rejects)
	}
	return nil
}

func parseOne(ctx context.Context, det *parse.Detector, name string, side record.Side, sink format.Sink) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err = det.File(ctx, f, format.Source{Name: name, Digest: hex.EncodeToString(h.Sum(nil)), Side: side}, sink)
	return err
}

type jsonSink struct {
	enc                               *json.Encoder
	stderr                            io.Writer
	quiet                             bool
	statements, transactions, rejects int
}

func (s *jsonSink) Statement(st *record.Statement) error {
	s.statements++
	if s.quiet {
		return nil
	}
	return s.enc.Encode(st)
}

func (s *jsonSink) Transaction(t *record.Transaction) error {
	s.transactions++
	if s.quiet {
		return nil
	}
	return s.enc.Encode(t)
}

// peakRSS reads the process's peak resident set size (Linux).
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
		}
	}
	return ""
}

func (s *jsonSink) Reject(e *format.ParseError) error {
	s.rejects++
	_, err := fmt.Fprintln(s.stderr, e.Error())
	return err
}
