// Package camt parses ISO 20022 cash management messages: camt.053 bank
// statements, camt.052 account reports (intraday) and camt.054
// debit/credit notifications, versions 001.01 to 001.13, whatever their
// namespace, with or without a business application header envelope, with
// several Stmt/Rpt/Ntfctn per file. A batch entry with N transaction
// details yields N transactions when the details add up to the entry; an
// entry without details yields one. Pending entries (PDNG) and information
// (INFO) are marked provisional. The document is read as a stream: one
// entry at a time is held in memory.
package camt

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/text/encoding/ianaindex"

	"github.com/openrecon/recon/internal/format"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// Parser reads camt.052/053/054. The zero value is ready to use.
type Parser struct{}

var _ format.Parser = Parser{}

// messages maps the message element to its name.
var messages = map[string]string{
	"BkToCstmrStmt":         "camt.053",
	"BkToCstmrAcctRpt":      "camt.052",
	"BkToCstmrDbtCdtNtfctn": "camt.054",
}

var reportElems = map[string]bool{"Stmt": true, "Rpt": true, "Ntfctn": true}

// messageOf names the message of a root element; version 001.01 writes
// the version into the name (BkToCstmrAcctRptV01).
func messageOf(elem string) string {
	for k, v := range messages {
		if elem == k || strings.HasPrefix(elem, k+"V") {
			return v
		}
	}
	return ""
}

type statement struct {
	pos      int64
	id       string
	ref      string
	seq      string
	created  string
	account  string
	currency string
	opening  *bal
	closing  *bal
	itbd     []bal
	entries  []*record.Transaction
	path     string
	line     int
	elemName string
}

type bal struct {
	amount money.Decimal
	date   record.Date
	hasDt  bool
}

type parser struct {
	created string // GrpHdr/CreDtTm
	src     format.Source
	sink    format.Sink
	message string
	stmts   int64
	pos     int64
	st      *statement
	dec     *xml.Decoder
}

// Parse implements format.Parser.
func (Parser) Parse(ctx context.Context, r io.Reader, src format.Source, sink format.Sink) error {
	d := xml.NewDecoder(r)
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		enc, err := ianaindex.IANA.Encoding(label)
		if err != nil || enc == nil {
			return nil, fmt.Errorf("unsupported XML encoding %q", label)
		}
		return enc.NewDecoder().Reader(in), nil
	}
	p := &parser{src: src, sink: sink, dec: d}
	var path []string
	counts := map[string]int{} // per-statement child counters for paths
	n := 0
	for {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			line, _ := d.InputPos()
			return &format.ParseError{File: src.Name, Line: line, Path: strings.Join(path, "/"), Reason: "XML: " + err.Error(), Err: err}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			if m := messageOf(name); m != "" && p.message == "" {
				p.message = m
			}
			parent := ""
			if len(path) > 0 {
				parent = path[len(path)-1]
			}
			if name == "GrpHdr" && messageOf(parent) != "" {
				var gh struct {
					CreDtTm string `xml:"CreDtTm"`
				}
				if err := d.DecodeElement(&gh, &t); err != nil {
					line, _ := d.InputPos()
					return &format.ParseError{File: src.Name, Line: line, Path: strings.Join(path, "/") + "/GrpHdr", Reason: "XML: " + err.Error(), Err: err}
				}
				p.created = gh.CreDtTm
				continue
			}
			if reportElems[name] && messageOf(parent) != "" {
				p.stmts++
				counts = map[string]int{}
				line, _ := d.InputPos()
				path = append(path, fmt.Sprintf("%s[%d]", name, p.stmts))
				p.st = &statement{pos: p.stmts, id: record.ID("s", src.Digest, p.stmts, 0), path: strings.Join(path, "/"), line: line, elemName: name}
				continue
			}
			if p.st != nil && len(path) > 0 && strings.HasPrefix(path[len(path)-1], p.st.elemName+"[") {
				counts[name]++
				if err := p.child(t, fmt.Sprintf("%s/%s[%d]", p.st.path, name, counts[name])); err != nil {
					return err
				}
				continue // the child was read whole
			}
			path = append(path, name)
		case xml.EndElement:
			if len(path) == 0 {
				continue
			}
			top := path[len(path)-1]
			path = path[:len(path)-1]
			if p.st != nil && strings.HasPrefix(top, p.st.elemName+"[") {
				if err := p.flush(); err != nil {
					return err
				}
			}
		}
	}
	if p.message == "" {
		return &format.ParseError{File: src.Name, Reason: "not a camt.052/053/054 document (no BkToCstmrStmt, BkToCstmrAcctRpt or BkToCstmrDbtCdtNtfctn element)"}
	}
	return nil
}

// child reads one direct child of a Stmt/Rpt/Ntfctn.
func (p *parser) child(t xml.StartElement, path string) error {
	st := p.st
	line, _ := p.dec.InputPos()
	decode := func(v any) error {
		if err := p.dec.DecodeElement(v, &t); err != nil {
			return &format.ParseError{File: p.src.Name, Line: line, Path: path, Reason: "XML: " + err.Error(), Err: err}
		}
		return nil
	}
	switch t.Name.Local {
	case "Id":
		return decode(&st.ref)
	case "ElctrncSeqNb", "LglSeqNb":
		var s string
		if err := decode(&s); err != nil {
			return err
		}
		if st.seq == "" || t.Name.Local == "ElctrncSeqNb" {
			st.seq = strings.TrimSpace(s)
		}
		return nil
	case "CreDtTm":
		return decode(&st.created)
	case "Acct":
		var a accountID
		if err := decode(&a); err != nil {
			return err
		}
		st.account, st.currency = strings.TrimSpace(a.id()), strings.TrimSpace(a.Ccy)
		return nil
	case "Bal":
		var b balance
		if err := decode(&b); err != nil {
			return err
		}
		return p.balance(b, path, line)
	case "Ntry":
		var e entry
		if err := decode(&e); err != nil {
			return err
		}
		return p.entry(&e, path, line)
	}
	return p.dec.Skip()
}

func (p *parser) reject(path string, line int, field, reason string) error {
	return p.sink.Reject(&format.ParseError{File: p.src.Name, Line: line, Path: path, Entry: p.pos, Field: field, Reason: reason})
}

func signed(a amount, ind string) (money.Decimal, error) {
	d, err := money.Parse(strings.TrimSpace(a.Value))
	if err != nil {
		return d, &format.FieldError{Field: "Amt", Err: fmt.Errorf("amount %q: %w", a.Value, err)}
	}
	switch strings.TrimSpace(ind) {
	case "CRDT", "":
		return d, nil
	case "DBIT":
		d, err := d.Neg()
		if err != nil {
			return d, &format.FieldError{Field: "Amt", Err: err}
		}
		return d, nil
	}
	return d, &format.FieldError{Field: "CdtDbtInd", Err: fmt.Errorf("credit/debit indicator %q: want CRDT or DBIT", ind)}
}

func (p *parser) balance(b balance, path string, line int) error {
	st := p.st
	amt, err := signed(b.Amt, b.CdtDbtInd)
	if err != nil {
		return p.reject(path, line, "Bal/"+format.FieldOf(err, "Amt"), err.Error())
	}
	if st.currency == "" {
		st.currency = b.Amt.Ccy
	}
	v := bal{amount: amt}
	if ds := b.Dt.date(); ds != "" {
		d, err := record.ParseDate(ds)
		if err != nil {
			return p.reject(path, line, "Bal/Dt", err.Error())
		}
		v.date, v.hasDt = d, true
	}
	switch b.Tp.CdOrPrtry.Cd {
	case "OPBD":
		st.opening = &v
	case "PRCD":
		if st.opening == nil {
			st.opening = &v
		}
	case "CLBD":
		st.closing = &v
	case "ITBD":
		st.itbd = append(st.itbd, v)
	}
	return nil
}

// entry turns one Ntry into one transaction, or one per transaction detail
// when a batch's details add up to the entry.
func (p *parser) entry(e *entry, path string, line int) error {
	p.pos++
	st := p.st
	amt, err := signed(e.Amt, e.CdtDbtInd)
	if err != nil {
		return p.reject(path, line, "Ntry/"+format.FieldOf(err, "Amt"), err.Error())
	}
	if strings.TrimSpace(e.CdtDbtInd) == "" {
		return p.reject(path, line, "Ntry/CdtDbtInd", "missing: an entry must say CRDT or DBIT")
	}
	ccy := strings.TrimSpace(e.Amt.Ccy)
	if ccy == "" {
		ccy = st.currency
	}
	if st.currency == "" {
		st.currency = ccy
	}
	status := strings.TrimSpace(e.Sts.Cd)
	if status == "" {
		status = strings.TrimSpace(e.Sts.Prtry)
	}
	if status == "" {
		status = strings.TrimSpace(e.Sts.Text)
	}
	// The booking date, or what stands in for it when a bank leaves it out:
	// the value date, the statement's balance date, its creation time.
	dateStr, inferred := e.BookgDt.date(), ""
	for _, alt := range []struct{ v, from string }{
		{e.ValDt.date(), "value date"}, {st.balanceDate(), "statement balance date"},
		{prefix10(st.created), "statement creation time"}, {prefix10(p.created), "message creation time"},
	} {
		if dateStr != "" {
			break
		}
		dateStr, inferred = alt.v, alt.from
	}
	booking, err := record.ParseDate(dateStr)
	if err != nil {
		return p.reject(path, line, "Ntry/BookgDt", fmt.Sprintf("no usable booking or value date (%v)", err))
	}
	var valueDate *record.Date
	if v := e.ValDt.date(); v != "" {
		d, err := record.ParseDate(v)
		if err != nil {
			return p.reject(path, line, "Ntry/ValDt", err.Error())
		}
		valueDate = &d
	}
	var details []txDetails
	var batch string
	for _, nd := range e.NtryDtls {
		details = append(details, nd.TxDtls...)
		if nd.Btch != nil && nd.Btch.NbOfTxs != "" {
			batch = nd.Btch.NbOfTxs
		}
	}
	base := func(detail int) *record.Transaction {
		t := &record.Transaction{ID: record.ID("b", p.src.Digest, p.pos, detail), Side: record.Bank, Currency: ccy,
			BookingDate: booking, ValueDate: valueDate, BankReference: strings.TrimSpace(e.AcctSvcrRef),
			TypeCode: e.BkTxCd.code(), SourceFile: p.src.Name, SourcePosition: p.pos, StatementID: st.id,
			Provisional: status == "PDNG" || status == "INFO" || status == "FUTR", Extra: map[string]string{}}
		if status != "" {
			t.Extra["status"] = status
		}
		if strings.EqualFold(strings.TrimSpace(e.RvslInd), "true") {
			t.Extra["reversal"] = "true"
		}
		if e.NtryRef != "" {
			t.Extra["entry_reference"] = strings.TrimSpace(e.NtryRef)
		}
		if batch != "" {
			t.Extra["batch_transactions"] = batch
		}
		if inferred != "" && dateStr != "" {
			t.Extra["booking_date_from"] = inferred
		}
		if c := chargesTotal(e.Chrgs); c != "" {
			t.Extra["charges"] = c
		}
		if e.AmtDtls.InstdAmt.Amt.Value != "" {
			t.Extra["instructed_amount"] = e.AmtDtls.InstdAmt.Amt.Ccy + " " + strings.TrimSpace(e.AmtDtls.InstdAmt.Amt.Value)
		}
		return t
	}
	out := []*record.Transaction{}
	if len(details) > 1 {
		split, note := p.splitDetails(details, amt, base)
		if split != nil {
			out = split
		} else {
			t := base(0)
			t.Amount = amt
			describe(t, &details[0], e.AddtlNtryInf, amt.Sign() >= 0)
			t.Extra["details"] = note
			out = append(out, t)
		}
	} else {
		t := base(0)
		t.Amount = amt
		var d *txDetails
		if len(details) == 1 {
			d = &details[0]
		}
		describe(t, d, e.AddtlNtryInf, amt.Sign() >= 0)
		out = append(out, t)
	}
	for _, t := range out {
		if len(t.Extra) == 0 {
			t.Extra = nil
		}
	}
	st.entries = append(st.entries, out...)
	return nil
}

// splitDetails returns one transaction per detail when every detail has an
// amount and they add up to the entry; otherwise nil and why.
func (p *parser) splitDetails(details []txDetails, entryAmt money.Decimal, base func(int) *record.Transaction) ([]*record.Transaction, string) {
	sum := money.New(0, 0)
	amts := make([]money.Decimal, len(details))
	entrySign := "CRDT"
	if entryAmt.Sign() < 0 {
		entrySign = "DBIT"
	}
	for i := range details {
		d := &details[i]
		a := d.Amt
		if a == nil || a.Value == "" {
			a = &d.AmtDtls.TxAmt.Amt
		}
		if a.Value == "" {
			return nil, fmt.Sprintf("%d transaction details, detail %d has no amount: kept as one entry", len(details), i+1)
		}
		ind := d.CdtDbtInd
		if ind == "" {
			ind = entrySign
		}
		v, err := signed(*a, ind)
		if err != nil {
			return nil, fmt.Sprintf("detail %d: %v: kept as one entry", i+1, err)
		}
		amts[i] = v
		if sum, err = sum.Add(v); err != nil {
			return nil, "details overflow: kept as one entry"
		}
	}
	if !sum.Equal(entryAmt) {
		return nil, fmt.Sprintf("%d transaction details add up to %s, the entry is %s: kept as one entry", len(details), sum, entryAmt)
	}
	out := make([]*record.Transaction, len(details))
	for i := range details {
		t := base(i + 1)
		t.Amount = amts[i]
		describe(t, &details[i], "", amts[i].Sign() >= 0)
		t.Extra["detail"] = strconv.Itoa(i+1) + "/" + strconv.Itoa(len(details))
		out[i] = t
	}
	return out, ""
}

// describe fills references, counterparty and text from a detail.
func describe(t *record.Transaction, d *txDetails, entryInfo string, credit bool) {
	var text []string
	if d != nil {
		refs := d.Refs
		set := func(k, v string) {
			if v = strings.TrimSpace(v); v != "" && v != "NOTPROVIDED" {
				t.Extra[k] = v
			}
		}
		set("end_to_end_id", refs.EndToEndID)
		set("instruction_id", refs.InstrID)
		set("transaction_id", refs.TxID)
		set("uetr", refs.UETR)
		set("mandate_id", refs.MndtID)
		set("message_id", refs.MsgID)
		set("payment_information_id", refs.PmtInfID)
		set("cheque_number", refs.ChqNb)
		if refs.AcctSvcrRef != "" && t.BankReference == "" {
			t.BankReference = strings.TrimSpace(refs.AcctSvcrRef)
		}
		var strd string
		for _, s := range d.RmtInf.Strd {
			if s.CdtrRefInf.Ref != "" && strd == "" {
				strd = strings.TrimSpace(s.CdtrRefInf.Ref)
			}
			for _, doc := range s.RfrdDocInf {
				if doc.Nb != "" {
					set("referred_document", doc.Nb)
				}
			}
			text = append(text, s.AddtlRmtInf...)
		}
		set("creditor_reference", strd)
		for _, r := range []string{strd, refs.EndToEndID, refs.InstrID} {
			if r = strings.TrimSpace(r); r != "" && r != "NOTPROVIDED" {
				t.Reference = r
				break
			}
		}
		rp := d.RltdPties
		if credit {
			t.Counterparty = first(rp.Dbtr.name(), rp.UltmtDbtr.name())
			set("counterparty_account", rp.DbtrAcct.id())
			set("counterparty_bic", first(d.RltdAgts.DbtrAgt.Agt.FinInstnID.BICFI, d.RltdAgts.DbtrAgt.Agt.FinInstnID.BIC))
		} else {
			t.Counterparty = first(rp.Cdtr.name(), rp.UltmtCdtr.name())
			set("counterparty_account", rp.CdtrAcct.id())
			set("counterparty_bic", first(d.RltdAgts.CdtrAgt.Agt.FinInstnID.BICFI, d.RltdAgts.CdtrAgt.Agt.FinInstnID.BIC))
		}
		if code := d.BkTxCd.code(); code != "" && t.TypeCode == "" {
			t.TypeCode = code
		}
		if c := first(d.RtrInf.Rsn.Cd, d.RtrInf.Rsn.Prtry); c != "" {
			set("return_reason", c)
		}
		if c := chargesTotal(d.Chrgs); c != "" {
			t.Extra["charges"] = c
		}
		text = append(d.RmtInf.Ustrd, text...)
		if d.AddtlTxInf != "" {
			text = append(text, d.AddtlTxInf)
		}
	}
	if entryInfo != "" {
		text = append(text, entryInfo)
	}
	for i := range text {
		text[i] = strings.Join(strings.Fields(text[i]), " ")
	}
	t.Description = strings.TrimSpace(strings.Join(text, " "))
}

func chargesTotal(c charges) string {
	if c.TtlChrgsAndTaxAmt != nil && c.TtlChrgsAndTaxAmt.Value != "" {
		return c.TtlChrgsAndTaxAmt.Ccy + " " + strings.TrimSpace(c.TtlChrgsAndTaxAmt.Value)
	}
	var parts []string
	for _, r := range c.Rcrd {
		if r.Amt.Value != "" {
			parts = append(parts, strings.TrimSpace(r.CdtDbtInd+" "+r.Amt.Ccy+" "+strings.TrimSpace(r.Amt.Value)))
		}
	}
	return strings.Join(parts, ", ")
}

func prefix10(s string) string {
	if len(s) >= 10 {
		return s[:10]
	}
	return ""
}

// balanceDate is the date of the statement's closing (or opening) balance.
func (st *statement) balanceDate() string {
	for _, b := range []*bal{st.closing, st.opening} {
		if b != nil && b.hasDt {
			return b.date.String()
		}
	}
	return ""
}

func first(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// flush emits the statement's transactions and its balance control.
func (p *parser) flush() error {
	st := p.st
	p.st = nil
	cur := strings.ToUpper(strings.TrimSpace(st.currency))
	if st.account == "" {
		return p.sink.Reject(&format.ParseError{File: p.src.Name, Line: st.line, Path: st.path, Field: "Acct/Id",
			Reason: fmt.Sprintf("no account id; its %d entries are rejected", len(st.entries))})
	}
	if len(st.entries) == 0 && cur == "" {
		return nil
	}
	if !money.KnownCurrency(cur) {
		return p.sink.Reject(&format.ParseError{File: p.src.Name, Line: st.line, Path: st.path, Field: "Acct/Ccy",
			Reason: fmt.Sprintf("no valid currency (got %q); its %d entries are rejected", cur, len(st.entries))})
	}
	total := money.New(0, 0)
	for _, t := range st.entries {
		t.Account = st.account
		if t.Currency == "" {
			t.Currency = cur
		}
		if !t.Provisional {
			if s, err := total.Add(t.Amount); err == nil {
				total = s
			}
		}
		if err := p.sink.Transaction(t); err != nil {
			return err
		}
	}
	opening, closing := st.opening, st.closing
	if p.message == "camt.052" && len(st.itbd) > 0 { // intraday reports: interim booked balances
		if opening == nil && len(st.itbd) > 1 {
			opening = &st.itbd[0]
		}
		if closing == nil {
			closing = &st.itbd[len(st.itbd)-1]
		}
	}
	stmt := &record.Statement{ID: st.id, Account: st.account, Currency: cur, Sequence: first(st.seq, st.ref),
		Entries: len(st.entries), EntriesTotal: total, Provisional: p.message == "camt.052", Format: p.message,
		SourceFile: p.src.Name, SourcePosition: st.pos}
	if opening != nil {
		stmt.OpeningBalance = &opening.amount
		if opening.hasDt {
			stmt.OpeningDate = &opening.date
		}
	}
	if closing != nil {
		stmt.ClosingBalance = &closing.amount
		if closing.hasDt {
			stmt.ClosingDate = &closing.date
		}
	}
	return p.sink.Statement(stmt)
}
