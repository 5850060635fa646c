package ingestor

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/openrecon/recon/internal/record"
)

// Inbox folders: files are dropped into <inbox>/bank, <inbox>/ledger or
// <inbox> itself; once handled they move to <inbox>/processed or
// <inbox>/quarantine (with a .reason.txt beside them).
const (
	ProcessedDir  = "processed"
	QuarantineDir = "quarantine"
)

type seenFile struct {
	size  int64
	mtime time.Time
}

// watchInbox polls the inbox and ingests files whose size and modification
// time stayed the same across two polls (so half-written files wait).
func (s *Service) watchInbox(ctx context.Context) error {
	for _, d := range []string{"bank", "ledger", ProcessedDir, QuarantineDir} {
		if err := os.MkdirAll(filepath.Join(s.cfg.Inbox, d), 0o755); err != nil {
			return fmt.Errorf("inbox: %w", err)
		}
	}
	if s.cfg.CompressProcessed {
		s.compressLeftovers()
	}
	seen := map[string]seenFile{}
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		if err := s.scanInbox(ctx, seen); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Service) scanInbox(ctx context.Context, seen map[string]seenFile) error {
	var ready []string
	now := map[string]bool{}
	for _, dir := range []string{"", "bank", "ledger"} {
		ents, err := os.ReadDir(filepath.Join(s.cfg.Inbox, dir))
		if err != nil {
			return fmt.Errorf("inbox: %w", err)
		}
		for _, e := range ents {
			name := e.Name()
			if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".part") {
				continue
			}
			rel := filepath.Join(dir, name)
			info, err := e.Info()
			if err != nil {
				continue
			}
			now[rel] = true
			cur := seenFile{size: info.Size(), mtime: info.ModTime()}
			if prev, ok := seen[rel]; ok && prev == cur {
				ready = append(ready, rel)
			}
			seen[rel] = cur
		}
	}
	for rel := range seen {
		if !now[rel] {
			delete(seen, rel)
		}
	}
	sort.Strings(ready)
	for _, rel := range ready {
		if ctx.Err() != nil {
			return nil
		}
		if _, err := s.IngestInboxFile(ctx, rel); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		delete(seen, rel)
	}
	return nil
}

// IngestInboxFile ingests <inbox>/rel and moves it to processed/ or
// quarantine/.
func (s *Service) IngestInboxFile(ctx context.Context, rel string) (*Result, error) {
	full := filepath.Join(s.cfg.Inbox, rel)
	name := filepath.ToSlash(rel)
	j := &job{name: name, side: SideOf(name)}
	j.open = func(context.Context) (io.ReadCloser, error) {
		f, err := os.Open(full)
		if err != nil {
			return nil, errPermanent{err}
		}
		return f, nil
	}
	j.quarantine = func(_ context.Context, reason string) (string, error) {
		dst := uniquePath(filepath.Join(s.cfg.Inbox, QuarantineDir, filepath.Base(rel)), "")
		if err := os.Rename(full, dst); err != nil {
			return "", err
		}
		return dst, os.WriteFile(dst+".reason.txt", []byte(reason+"\n"), 0o644)
	}
	res, err := s.ingestWithRetry(ctx, j)
	if err != nil {
		return nil, err
	}
	if res.Outcome != record.OutcomeQuarantined {
		gz := ""
		if s.cfg.CompressProcessed {
			gz = ".gz"
		}
		dst := uniquePath(filepath.Join(s.cfg.Inbox, ProcessedDir, filepath.Base(rel)), gz)
		if err := os.Rename(full, dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("inbox: move to processed: %w", err)
		}
		if res.Reason != "" {
			// Statements refused as re-sent: say which, beside the file.
			if err := os.WriteFile(dst+".reason.txt", []byte(res.Reason+"\n"), 0o644); err != nil {
				s.log.Error("inbox: could not write the reason", "file", dst, "err", err)
			}
		}
		if gz != "" {
			s.compress(dst)
		}
	}
	return res, nil
}

// uniquePath adds a numeric suffix when p (or p with the suffix also,
// the name it will have once compressed) exists.
func uniquePath(p, also string) string {
	free := func(q string) bool {
		_, err := os.Stat(q)
		if err != nil && also != "" {
			_, err = os.Stat(q + also)
		}
		return err != nil
	}
	if free(p) {
		return p
	}
	ext := filepath.Ext(p)
	base := strings.TrimSuffix(p, ext)
	for i := 1; ; i++ {
		q := fmt.Sprintf("%s.%d%s", base, i, ext)
		if free(q) {
			return q
		}
	}
}

// compress replaces the handled file path by path.gz. The file was
// acknowledged before: a failure (a full disk) leaves it as it is, and a
// stop halfway leaves it for compressLeftovers at the next start.
func (s *Service) compress(path string) {
	if err := gzipFile(path); err != nil {
		s.log.Error("inbox: could not compress a handled file; it stays as it is", "file", path, "err", err)
	}
}

// gzipFile writes path.gz through a temporary file, synced before it is
// renamed, and only then removes path.
func gzipFile(path string) error {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := path + ".gz.tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	zw.Name = filepath.Base(path)
	_, err = io.Copy(zw, in)
	err = errors.Join(err, zw.Close())
	if err == nil {
		err = out.Sync()
	}
	err = errors.Join(err, out.Close())
	if err == nil {
		err = os.Rename(tmp, path+".gz")
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Remove(path)
}

// compressLeftovers finishes what a stop interrupted: a handled file not
// yet compressed is compressed, a half-written one dropped.
func (s *Service) compressLeftovers() {
	dir := filepath.Join(s.cfg.Inbox, ProcessedDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case !e.Type().IsRegular(), strings.HasSuffix(name, ".gz"), strings.HasSuffix(name, ".reason.txt"):
		case strings.HasSuffix(name, ".gz.tmp"):
			os.Remove(filepath.Join(dir, name))
		default:
			s.compress(filepath.Join(dir, name))
		}
	}
}

// IngestPath ingests a local file in place (no move), as `recon reconcile`
// does with its --bank and --ledger files. side may be empty (content
// decides). The file's records carry name as their source_file.
func (s *Service) IngestPath(ctx context.Context, path, name string, side record.Side) (*Result, error) {
	j := &job{name: name, side: side}
	j.open = func(context.Context) (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, errPermanent{err}
		}
		return f, nil
	}
	return s.ingestWithRetry(ctx, j)
}
