package casestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The audit chain: every action, decision and sign-in, each entry hashed
// with the one before it, so a change or a deletion is found.

// AuditEntry is one link of the audit chain. Its canonical form is its JSON
// encoding (fields in this order, no insignificant space); the chain's hash
// is SHA-256(previous hash || canonical entry), the first previous hash 32
// zero bytes.
type AuditEntry struct {
	Seq      int64           `json:"seq"`
	At       string          `json:"at"` // RFC 3339, UTC, milliseconds
	User     string          `json:"user"`
	Event    string          `json:"event"` // request, approve, reject, withdraw, comment, assign, sign_in, ...
	ActionID string          `json:"action_id,omitempty"`
	Before   json.RawMessage `json:"before,omitempty"`
	After    json.RawMessage `json:"after,omitempty"`
}

// chainHash is the hash of entry after prev (hex).
func chainHash(prev string, entry []byte) (string, error) {
	p, err := hex.DecodeString(prev)
	if err != nil || len(p) != sha256.Size {
		return "", fmt.Errorf("previous hash %q is not 32 bytes of hex", prev)
	}
	h := sha256.New()
	h.Write(p)
	h.Write(entry)
	return hex.EncodeToString(h.Sum(nil)), nil
}

var genesis = strings.Repeat("0", 64)

// appendAudit appends e to the chain inside tx (serialised: SQLite has one
// writer, PostgreSQL takes a table lock) and returns it with its seq; prep,
// if not nil, completes the entry once its seq is known.
func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, e AuditEntry, prep ...func(*AuditEntry)) (AuditEntry, error) {
	if s.pg {
		if _, err := tx.ExecContext(ctx, `LOCK TABLE case_audit IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return e, err
		}
	}
	prev := genesis
	var last int64
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM case_audit ORDER BY seq DESC LIMIT 1`).Scan(&last, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("audit: %w", err)
	}
	e.Seq = last + 1
	for _, p := range prep {
		p(&e)
	}
	entry, err := json.Marshal(e)
	if err != nil {
		return e, err
	}
	h, err := chainHash(prev, entry)
	if err != nil {
		return e, err
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO case_audit (seq, entry, prev_hash, hash) VALUES (?, ?, ?, ?)`), e.Seq, string(entry), prev, h); err != nil {
		return e, fmt.Errorf("audit: %w", err)
	}
	return e, nil
}

// Audit appends one entry on its own (a sign-in, a sign-out).
func (s *Store) Audit(ctx context.Context, user, event string, after any) error {
	raw, err := json.Marshal(after)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := s.appendAudit(ctx, tx, AuditEntry{At: stamp(time.Now()), User: user, Event: event, After: raw})
		return err
	})
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// AuditLog returns the last limit entries (newest first) and the head hash.
func (s *Store) AuditLog(ctx context.Context, limit int) ([]AuditEntry, string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT entry, hash FROM case_audit ORDER BY seq DESC LIMIT ?`), limit)
	if err != nil {
		return nil, "", fmt.Errorf("case store %s: audit: %w", s.source, err)
	}
	defer rows.Close()
	var out []AuditEntry
	head := ""
	for rows.Next() {
		var entry, h string
		if err := rows.Scan(&entry, &h); err != nil {
			return nil, "", err
		}
		if head == "" {
			head = h
		}
		var e AuditEntry
		if err := json.Unmarshal([]byte(entry), &e); err != nil {
			return nil, "", fmt.Errorf("audit entry: %w", err)
		}
		out = append(out, e)
	}
	return out, head, rows.Err()
}

// Verification is the result of walking the audit chain.
type Verification struct {
	Entries  int64  `json:"entries"`
	HeadHash string `json:"head_hash"`
	Valid    bool   `json:"valid"`
	// BrokenAt is the seq of the first entry that does not verify, and
	// Problem what is wrong with it.
	BrokenAt int64  `json:"broken_at,omitempty"`
	Problem  string `json:"problem,omitempty"`
}

// VerifyAudit walks the whole chain from the first entry and names the
// first broken link: a gap in the sequence, a previous hash that is not
// the hash before it, or a hash that is not the hash of its entry.
func (s *Store) VerifyAudit(ctx context.Context) (Verification, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, entry, prev_hash, hash FROM case_audit ORDER BY seq`)
	if err != nil {
		return Verification{}, fmt.Errorf("case store %s: audit: %w", s.source, err)
	}
	defer rows.Close()
	v := Verification{Valid: true, HeadHash: genesis}
	prev := genesis
	for rows.Next() {
		var seq int64
		var entry, prevHash, h string
		if err := rows.Scan(&seq, &entry, &prevHash, &h); err != nil {
			return v, err
		}
		v.Entries++
		bad := func(problem string) (Verification, error) {
			v.Valid, v.BrokenAt, v.Problem = false, seq, problem
			return v, nil
		}
		if seq != v.Entries {
			return bad(fmt.Sprintf("entry %d follows entry %d", seq, v.Entries-1))
		}
		if prevHash != prev {
			return bad("its previous hash is not the hash of the entry before it")
		}
		want, err := chainHash(prev, []byte(entry))
		if err != nil {
			return bad(err.Error())
		}
		if want != h {
			return bad("its hash is not the hash of its content: the entry was changed")
		}
		var e AuditEntry
		if err := json.Unmarshal([]byte(entry), &e); err != nil || e.Seq != seq {
			return bad("its content does not carry its own sequence number")
		}
		canon, _ := json.Marshal(e)
		if !bytes.Equal(canon, []byte(entry)) {
			return bad("its content is not in canonical form")
		}
		prev, v.HeadHash = h, h
	}
	return v, rows.Err()
}
