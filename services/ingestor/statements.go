package ingestor

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// A bank sends a statement again: the same file under another name with
// another header (:20: or MsgId), or the same day in another format
// (MT940 and camt.053 of one account and date). The file digest does not
// catch it; its content does. Each booked statement has a slot (account,
// currency and statement number, or the closing date where the number is
// none or not a number) and a content digest (account, currency, closing
// date, opening and closing balances, every entry's booking date and
// amount: what every format says alike). A statement whose content the
// ingestor has is refused as a duplicate, its entries never produced; one
// that differs from the statement it has in the same slot (a corrected
// re-send) quarantines its file, naming both, for a person to decide.
// Intraday statements (MT942, camt.052, BAI2 interim) are not checked:
// a day has many.

// stmtSeen is a booked statement: where it is and what it holds.
type stmtSeen struct {
	slot, content     string
	opening, closing  string
	entries           int
	label             string // account currency no. N (date), for people
	fileKey, fileHash string // the file that brought it
}

// line is the form kept in recon.files (FileEvent.statement_digests).
func (s stmtSeen) line() string {
	return strings.Join([]string{s.slot, s.content, s.opening, s.closing, strconv.Itoa(s.entries), s.label}, "\t")
}

func parseSeen(line string, fe *record.FileEvent) (stmtSeen, bool) {
	f := strings.Split(line, "\t")
	if len(f) < 5 {
		return stmtSeen{}, false
	}
	n, _ := strconv.Atoi(f[4])
	s := stmtSeen{slot: f[0], content: f[1], opening: f[2], closing: f[3], entries: n, fileKey: fe.Key, fileHash: fe.Digest}
	if len(f) > 5 {
		s.label = f[5]
	}
	return s, true
}

// fingerprint is st's slot and content over the (booking date, amount)
// of its entries.
func fingerprint(st *record.Statement, entries []string) stmtSeen {
	dec := func(d *money.Decimal) string {
		if d == nil {
			return ""
		}
		return d.Trim(0).String()
	}
	show := func(d *money.Decimal) string {
		if d == nil {
			return "none"
		}
		return money.Format(*d, st.Currency) + " " + st.Currency
	}
	closing := st.ClosingDate.String()
	s := stmtSeen{opening: show(st.OpeningBalance), closing: show(st.ClosingBalance), entries: len(entries)}
	if n := record.StatementNumber(st.Sequence); n != "" {
		s.slot = st.Account + "|" + st.Currency + "|no " + n
		s.label = fmt.Sprintf("%s %s no. %s (%s)", st.Account, st.Currency, n, closing)
	} else {
		s.slot = st.Account + "|" + st.Currency + "|day " + closing
		s.label = fmt.Sprintf("%s %s of %s", st.Account, st.Currency, closing)
	}
	sorted := append([]string(nil), entries...)
	sort.Strings(sorted)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00", st.Account, st.Currency, closing, dec(st.OpeningBalance), dec(st.ClosingBalance))
	for _, e := range sorted {
		h.Write([]byte(e))
		h.Write([]byte{0})
	}
	s.content = hex.EncodeToString(h.Sum(nil)[:16])
	return s
}

// entryKey is what the content digest takes of an entry.
func entryKey(t *record.Transaction) string {
	return t.BookingDate.String() + " " + t.Amount.Trim(0).String()
}

// describe names a statement for a person: its label, balances and
// entries, and the file it came from.
func (s stmtSeen) describe() string {
	return fmt.Sprintf("%s: opening %s, closing %s, %d entries", s.label, s.opening, s.closing, s.entries)
}

func (s stmtSeen) from() string {
	h := s.fileHash
	if len(h) > 12 {
		h = h[:12]
	}
	return fmt.Sprintf("%s (digest %s…)", s.fileKey, h)
}

// refusal is a statement refused as a duplicate, or one that differs from
// the statement received in its slot.
type refusal struct {
	got, prev stmtSeen
	conflict  bool
}

func (r refusal) reason() string {
	if r.conflict {
		return fmt.Sprintf("statement %s differs from the one received in %s (%s): a corrected re-send is not merged; quarantined for a person to decide which stands",
			r.got.describe(), r.prev.from(), r.prev.describe())
	}
	return fmt.Sprintf("statement %s was already received in %s: refused as a duplicate, its entries not ingested again", r.got.describe(), r.prev.from())
}

// refusalsReason is one line for a file outcome: the first refusals.
func refusalsReason(rs []refusal, conflicts bool) string {
	var parts []string
	n := 0
	for _, r := range rs {
		if r.conflict != conflicts {
			continue
		}
		if n++; n <= 3 {
			parts = append(parts, r.reason())
		}
	}
	if n > 3 {
		parts = append(parts, fmt.Sprintf("and %d more", n-3))
	}
	return strings.Join(parts, "; ")
}
