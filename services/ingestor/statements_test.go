package ingestor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
)

func TestStatementNumber(t *testing.T) {
	for in, want := range map[string]string{"5": "5", "00005/1": "5", "5/2": "5/2", "083": "83", "S0": "", "": "", "5/x": "", "0": "0"} {
		if got := record.StatementNumber(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// mt940Stmt is one MT940 statement of account acct, number 83, on
// 2026-03-24, with the given :20: reference and entries (cents).
func mt940Stmt(ref, acct string, no int, day string, entries ...int64) string {
	var b strings.Builder
	open := int64(100000)
	fmt.Fprintf(&b, ":20:%s\r\n:25:%s\r\n:28C:%05d/1\r\n:60F:C%sEUR%d,%02d\r\n", ref, acct, no, day, open/100, open%100)
	bal := open
	for i, c := range entries {
		fmt.Fprintf(&b, ":61:%s%sC%d,%02dNTRFINV-%d//B%d\r\n:86:Payment INV-%d\r\n", day, day[2:], c/100, c%100, i, i, i)
		bal += c
	}
	fmt.Fprintf(&b, ":62F:C%sEUR%d,%02d\r\n-\r\n", day, bal/100, bal%100)
	return b.String()
}

// camtStmt is the same statement as camt.053.
func camtStmt(acct string, no int, day string, entries ...int64) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><GrpHdr><MsgId>RESENT</MsgId><CreDtTm>2026-03-24T18:00:00Z</CreDtTm></GrpHdr>`)
	open := int64(100000)
	bal := open
	for _, c := range entries {
		bal += c
	}
	fmt.Fprintf(&b, "<Stmt><Id>X%d</Id><ElctrncSeqNb>%d</ElctrncSeqNb><Acct><Id><Othr><Id>%s</Id></Othr></Id><Ccy>EUR</Ccy></Acct>", no, no, acct)
	for _, x := range []struct {
		code string
		v    int64
	}{{"OPBD", open}, {"CLBD", bal}} {
		fmt.Fprintf(&b, "<Bal><Tp><CdOrPrtry><Cd>%s</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">%d.%02d</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>%s</Dt></Dt></Bal>", x.code, x.v/100, x.v%100, day)
	}
	for i, c := range entries {
		fmt.Fprintf(&b, "<Ntry><Amt Ccy=\"EUR\">%d.%02d</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>%s</Dt></BookgDt><AcctSvcrRef>C%d</AcctSvcrRef><NtryDtls><TxDtls><Refs><EndToEndId>INV-%d</EndToEndId></Refs></TxDtls></NtryDtls></Ntry>", c/100, c%100, day, i, i)
	}
	b.WriteString("</Stmt></BkToCstmrStmt></Document>\n")
	return b.String()
}

// TestStatementResent: a statement re-sent under another name with
// another :20:, and the same day as camt.053, are refused as duplicates
// (DUPLICATE outcome naming the first file, DLQ, metric) and none of
// their entries is produced again; a corrected re-send (an entry
// changed, same account and number) is quarantined naming both
// versions; a file with a re-sent and a new statement brings only the
// new one; and a restarted ingestor still knows them all.
func TestStatementResent(t *testing.T) {
	brokers := testenv.Kafka(t)
	inbox := t.TempDir()
	run := fmt.Sprint(time.Now().UnixNano())
	acct := "DE" + run[len(run)-18:]
	h := newHarness(t, brokers)
	cfg := Defaults()
	cfg.Kafka.Brokers, cfg.Kafka.Partitions, cfg.TransactionalID, cfg.Inbox, cfg.ConsumeEvents = brokers, 4, "test-stmt-"+run, inbox, false
	cfg.PollInterval, cfg.MaxFileSize, cfg.TempDir = 50*time.Millisecond, 1<<20, t.TempDir()
	if err := os.MkdirAll(filepath.Join(inbox, "bank"), 0o755); err != nil {
		t.Fatal(err)
	}
	drop := func(name, body string) string {
		if err := os.WriteFile(filepath.Join(inbox, "bank", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			_, err1 := os.Stat(filepath.Join(inbox, ProcessedDir, name))
			_, err2 := os.Stat(filepath.Join(inbox, QuarantineDir, name))
			return err1 == nil || err2 == nil
		})
		b, _ := os.ReadFile(filepath.Join(inbox, ProcessedDir, name+".reason.txt"))
		if len(b) == 0 {
			b, _ = os.ReadFile(filepath.Join(inbox, QuarantineDir, name+".reason.txt"))
		}
		return string(b)
	}
	entries := []int64{12345, 67890, 500}
	_, reg, stop := startIngestor(t, cfg, nil)
	if r := drop("day.sta", mt940Stmt("STMT-1", acct, 83, "260324", entries...)); r != "" {
		t.Errorf("first delivery has a reason: %s", r)
	}
	r := drop("day-resent.sta", mt940Stmt("STMT-1-RESENT", acct, 83, "260324", entries...))
	if !strings.Contains(r, "already received in bank/day.sta") && !strings.Contains(r, "day.sta") || !strings.Contains(r, "refused as a duplicate") {
		t.Errorf("re-sent MT940: reason %q", r)
	}
	if r := drop("day.xml", camtStmt(acct, 83, "2026-03-24", entries...)); !strings.Contains(r, "refused as a duplicate") {
		t.Errorf("the same day as camt.053: reason %q", r)
	}
	corrected := append([]int64(nil), entries...)
	corrected[2] = 600
	r = drop("day-corrected.sta", mt940Stmt("STMT-1-CORR", acct, 83, "260324", corrected...))
	if !strings.Contains(r, "differs from the one received in") || !strings.Contains(r, "3 entries") || !strings.Contains(r, "closing 1807.35 EUR") || !strings.Contains(r, "closing 1808.35 EUR") {
		t.Errorf("corrected re-send: reason %q", r)
	}
	if _, err := os.Stat(filepath.Join(inbox, QuarantineDir, "day-corrected.sta")); err != nil {
		t.Errorf("the corrected re-send is not in quarantine: %v", err)
	}
	r = drop("two.sta", mt940Stmt("STMT-1-AGAIN", acct, 83, "260324", entries...)+mt940Stmt("STMT-2", acct, 84, "260325", 999, 1001))
	if !strings.Contains(r, "1 statement(s) re-sent") {
		t.Errorf("a re-sent and a new statement: reason %q", r)
	}
	if n := counterSum(t, reg, "recon_ingest_refused_statements_total", "kind", "duplicate"); n != 3 {
		t.Errorf("duplicate statements counted %d, want 3", n)
	}
	if n := counterSum(t, reg, "recon_ingest_refused_statements_total", "kind", "conflict"); n != 1 {
		t.Errorf("conflicting statements counted %d, want 1", n)
	}
	stop()
	// A new instance rebuilds what it knows from recon.files.
	_, _, stop = startIngestor(t, cfg, nil)
	if r := drop("day-again.sta", mt940Stmt("STMT-1-THIRD", acct, 83, "260324", entries...)); !strings.Contains(r, "refused as a duplicate") {
		t.Errorf("after a restart: reason %q", r)
	}
	stop()

	recs := h.read()
	var mine int
	for _, kr := range recs[kafka.TopicBankTransactions] {
		tx, err := h.codec.Decode(t.Context(), kr.Value)
		if err != nil {
			t.Fatal(err)
		}
		if tx.Account == acct {
			mine++
		}
	}
	if mine != len(entries)+2 {
		t.Errorf("%d bank records of the account, want %d (the first statement once, the new one once)", mine, len(entries)+2)
	}
	outcomes := map[string]int{}
	for _, kr := range recs[kafka.TopicFiles] {
		fe, err := h.fcodec.Decode(t.Context(), kr.Value)
		if err != nil {
			t.Fatal(err)
		}
		outcomes[fe.Outcome]++
		if fe.Outcome == record.OutcomeIngested && len(fe.StatementDigests) == 0 {
			t.Errorf("ingested %s without statement digests", fe.Key)
		}
	}
	if outcomes[record.OutcomeIngested] != 2 || outcomes[record.OutcomeDuplicate] != 3 || outcomes[record.OutcomeQuarantined] != 1 {
		t.Errorf("outcomes %v, want 2 ingested, 3 duplicate, 1 quarantined", outcomes)
	}
	var stmtDLQ int
	for _, kr := range recs[kafka.TopicDLQ] {
		for _, hd := range kr.Headers {
			if hd.Key == "recon.stage" && string(hd.Value) == "statement" {
				stmtDLQ++
			}
		}
	}
	if stmtDLQ != 4 {
		t.Errorf("%d DLQ records of refused statements, want 4", stmtDLQ)
	}
}
