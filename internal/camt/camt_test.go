package camt

import (
	"context"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"github.com/openrecon/recon/internal/format"
)

func parse(t *testing.T, in string) (*format.Collector, error) {
	t.Helper()
	var c format.Collector
	err := Parser{}.Parse(context.Background(), strings.NewReader(in), format.Source{Name: "c.xml", Digest: "d"}, &c)
	return &c, err
}

// An entry of camt.053.001.13 inside a business application header envelope.
const enveloped = `<?xml version="1.0" encoding="UTF-8"?>
<BizMsgEnvlp xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.02">
 <AppHdr><BizMsgIdr>B1</BizMsgIdr><MsgDefIdr>camt.053.001.13</MsgDefIdr></AppHdr>
 <Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.13"><BkToCstmrStmt>
  <GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-03-02T18:00:00Z</CreDtTm></GrpHdr>
  <Stmt><Id>S1</Id><ElctrncSeqNb>42</ElctrncSeqNb>
   <Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>
   <Bal><Tp><CdOrPrtry><Cd>PRCD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">100.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Dt><Dt>2026-03-01</Dt></Dt></Bal>
   <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">50.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><DtTm>2026-03-02T23:59:59</DtTm></Dt></Bal>
   <Ntry><Amt Ccy="EUR">170.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
    <BookgDt><Dt>2026-03-02</Dt></BookgDt><ValDt><Dt>2026-03-03</Dt></ValDt><AcctSvcrRef>ASR-1</AcctSvcrRef>
    <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
    <NtryDtls><Btch><NbOfTxs>2</NbOfTxs></Btch>
     <TxDtls><Refs><EndToEndId>E2E-1</EndToEndId><UETR>97ed4827-7b6f-4491-a06f-b548d5a7512d</UETR></Refs><Amt Ccy="EUR">100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
      <RltdPties><Dbtr><Pty><Nm>ACME GmbH</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>FR7630006000011234567890189</IBAN></Id></DbtrAcct></RltdPties>
      <RmtInf><Strd><CdtrRefInf><Ref>RF18539007547034</Ref></CdtrRefInf></Strd></RmtInf></TxDtls>
     <TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId><InstrId>INSTR-2</InstrId></Refs><Amt Ccy="EUR">70.00</Amt>
      <RltdPties><Dbtr><Nm>Jane Doe</Nm></Dbtr></RltdPties><RmtInf><Ustrd>invoice  4711</Ustrd></RmtInf></TxDtls>
    </NtryDtls></Ntry>
   <Ntry><Amt Ccy="EUR">20.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><RvslInd>true</RvslInd><Sts>BOOK</Sts><BookgDt><Dt>2026-03-02</Dt></BookgDt>
    <NtryDtls><TxDtls><Amt Ccy="EUR">5.00</Amt></TxDtls><TxDtls><Amt Ccy="EUR">6.00</Amt></TxDtls></NtryDtls>
    <Chrgs><TtlChrgsAndTaxAmt Ccy="EUR">1.50</TtlChrgsAndTaxAmt></Chrgs></Ntry>
   <Ntry><Amt Ccy="EUR">9.99</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>PDNG</Sts><ValDt><Dt>2026-03-04</Dt></ValDt>
    <NtryDtls><TxDtls><RtrInf><Rsn><Cd>AC04</Cd></Rsn></RtrInf></TxDtls></NtryDtls></Ntry>
   <Ntry><Amt Ccy="EUR">1,00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-03-02</Dt></BookgDt></Ntry>
   <Ntry><Amt Ccy="EUR">1.00</Amt><Sts>BOOK</Sts><BookgDt><Dt>2026-03-02</Dt></BookgDt></Ntry>
  </Stmt>
 </BkToCstmrStmt></Document>
</BizMsgEnvlp>`

func TestEnvelopedStatement(t *testing.T) {
	c, err := parse(t, enveloped)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Transactions) != 4 || len(c.Statements) != 1 || len(c.Rejects) != 2 {
		t.Fatalf("%d transactions, %d statements, rejects %v", len(c.Transactions), len(c.Statements), c.Rejects)
	}
	a, b, d, p := c.Transactions[0], c.Transactions[1], c.Transactions[2], c.Transactions[3]
	if a.Amount.String() != "100.00" || a.Reference != "RF18539007547034" || a.Counterparty != "ACME GmbH" || a.Extra["uetr"] == "" ||
		a.SourcePosition != 1 || b.SourcePosition != 1 || a.ID == b.ID || a.TypeCode != "PMNT/RCDT/ESCT" || a.BankReference != "ASR-1" ||
		a.ValueDate.String() != "2026-03-03" || a.Extra["counterparty_account"] != "FR7630006000011234567890189" {
		t.Errorf("detail 1: %+v", a)
	}
	if b.Amount.String() != "70.00" || b.Reference != "INSTR-2" || b.Counterparty != "Jane Doe" || b.Description != "invoice 4711" {
		t.Errorf("detail 2: %+v", b)
	}
	if d.Amount.String() != "-20.00" || d.Extra["reversal"] != "true" || !strings.Contains(d.Extra["details"], "add up to -11.00") || d.Extra["charges"] != "EUR 1.50" {
		t.Errorf("entry kept whole: %+v", d)
	}
	if !p.Provisional || p.Extra["return_reason"] != "AC04" || p.BookingDate.String() != "2026-03-04" {
		t.Errorf("pending: %+v", p)
	}
	st := c.Statements[0]
	if st.OpeningBalance.String() != "-100.00" || st.ClosingBalance.String() != "50.00" || st.Sequence != "42" || st.EntriesTotal.String() != "150.00" ||
		st.ClosingDate.String() != "2026-03-02" || st.Format != "camt.053" {
		t.Errorf("statement %+v", st)
	}
	want := []string{"c.xml:25: BizMsgEnvlp/Document/BkToCstmrStmt/Stmt[1]/Ntry[4]: entry 4: Ntry/Amt", "c.xml:26: BizMsgEnvlp/Document/BkToCstmrStmt/Stmt[1]/Ntry[5]: entry 5: Ntry/CdtDbtInd: missing"}
	for i, w := range want {
		if !strings.Contains(c.Rejects[i].Error(), w) {
			t.Errorf("reject %d = %q, want %q", i, c.Rejects[i], w)
		}
	}
}

func TestNotCamt(t *testing.T) {
	for in, want := range map[string]string{
		`<?xml version="1.0"?><Document><pain.001/></Document>`:  "not a camt",
		`<Document><BkToCstmrStmt><Stmt>`:                        "XML:",
		`<?xml version="1.0" encoding="EBCDIC-XYZ"?><Document/>`: "encoding",
	} {
		if _, err := parse(t, in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
	latin1 := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Document><BkToCstmrDbtCdtNtfctn><Ntfctn><Acct><Id><IBAN>X</IBAN></Id><Ccy>EUR</Ccy></Acct>" +
		"<Ntry><Amt Ccy=\"EUR\">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-01-01</Dt></BookgDt><AddtlNtryInf>M\xfcller</AddtlNtryInf></Ntry></Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"
	c, err := parse(t, latin1)
	if err != nil || len(c.Transactions) != 1 || c.Transactions[0].Description != "Müller" {
		t.Errorf("latin-1: %v %+v", err, c.Transactions)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(enveloped)
	f.Add(`<Document><BkToCstmrAcctRptV01><Rpt><Acct><Id><PrtryAcct><Id>A</Id></PrtryAcct></Id></Acct><Ntry><Amt Ccy="SEK">5</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>INFO</Sts></Ntry></Rpt></BkToCstmrAcctRptV01></Document>`)
	f.Fuzz(func(t *testing.T, in string) {
		c, err := parse(t, in)
		if err != nil {
			return
		}
		for _, tx := range c.Transactions {
			if tx.Account == "" || tx.ID == "" {
				t.Fatalf("bad transaction %+v", tx)
			}
		}
	})
}

// The bad field is data (ParseError.Field, from the helper's FieldError),
// and an XML error stays reachable as the cause.
func TestRejectFieldsAreData(t *testing.T) {
	doc := func(ntry string) string {
		return `<Document><BkToCstmrStmt><Stmt><Acct><Id><IBAN>X</IBAN></Id><Ccy>EUR</Ccy></Acct>` + ntry + `</Stmt></BkToCstmrStmt></Document>`
	}
	for ntry, field := range map[string]string{
		`<Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDIT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-01-01</Dt></BookgDt></Ntry>`: "Ntry/CdtDbtInd",
		`<Ntry><Amt Ccy="EUR">1.0.0</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-01-01</Dt></BookgDt></Ntry>`: "Ntry/Amt",
		`<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">5.00</Amt><CdtDbtInd>X</CdtDbtInd></Bal>`:               "Bal/CdtDbtInd",
	} {
		c, err := parse(t, doc(ntry))
		if err != nil || len(c.Rejects) != 1 || c.Rejects[0].Field != field {
			t.Errorf("%s: %v %+v, want field %s", ntry, err, c.Rejects, field)
		}
	}
	_, err := parse(t, `<Document><BkToCstmrStmt><Stmt>`)
	var pe *format.ParseError
	var se *xml.SyntaxError
	if !errors.As(err, &pe) || !errors.As(err, &se) {
		t.Errorf("truncated XML: %v does not wrap its *xml.SyntaxError", err)
	}
}
