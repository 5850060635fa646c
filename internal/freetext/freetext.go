// Package freetext reads what a bank's free text says about a payment:
// the counterparty's name, IBAN and BIC, the end-to-end id, and invoice
// and order numbers. Banks write these in remittance lines (MT940 :86:,
// the BAI2 16 record's text and its 88 continuations, camt unstructured
// remittance) in as many layouts as there are banks: labels (NAME/,
// /BENM/, B/O, ORIG CO NAME:), colon- or slash-separated fields around an
// IBAN, or a company name at the start of the text. Enrich puts what it
// finds into the canonical record without overwriting what the format
// gave in structured fields, and keeps the text it read.
package freetext

import (
	"regexp"
	"strings"
	"unicode"

	"github.com/openrecon/recon/internal/record"
)

// Fields is what a text says.
type Fields struct {
	Name       string   // the counterparty's name
	IBAN       string   // the counterparty's IBAN (checksum verified), without spaces
	BIC        string   // the counterparty bank's BIC
	EndToEndID string   // the payer's end-to-end reference
	References []string // invoice and order numbers, as written
}

// The patterns run on the text in ASCII capitals (same byte offsets, so
// values are cut from the text as written), anchored where one of their
// keywords starts a word: a text without the keywords costs one scan per
// pattern, no regular expression.
var (
	// nameAt: a label, then the name up to the next label or separator.
	// Labels that need punctuation ("NAME:", "/BENM/", "ABWA+"), and the
	// phrases that are labels before a bare name ("B/O ACME", "FROM ACME").
	nameAt = trigger{words: []string{"NAME", "BENM", "ORDP", "BENEFICIARY", "BNF", "DBNM", "CRNM", "ORIG", "IND", "RECEIVER", "SENDER",
		"PAYER", "PAYEE", "DEBTOR", "CREDITOR", "ABWA", "ABWE", "ORDERED", "BY", "B/O", "FROM"}, prev: labelStart, span: 160,
		re: regexp.MustCompile(`^(?:(?:NAME|BENM|ORDP|BENEFICIARY(?: NAME)?|BNF(?: NAME)?|DBNM|CRNM|ORIG(?:INATOR)? CO NAME|IND(?:IVIDUAL)? NAME|RECEIVER|SENDER|PAYER|PAYEE|DEBTOR|CREDITOR|ABWA|ABWE)\s*[:=/+]|(?:ORDERED BY|BY ORDER OF|B/O|FROM)[:=\s])\s*(?:/?NAME/)?([^/;|\n?]+)`)}
	bicAt = trigger{words: []string{"BIC", "SWIFT"}, prev: notWord, span: 40,
		re: regexp.MustCompile(`^(?:BIC|SWIFT)(?:\s*CODE)?\s*[:+/=]?\s*([A-Z]{6}[A-Z2-9][A-NP-Z0-9](?:[A-Z0-9]{3})?)\b`)}
	e2eAt = trigger{words: []string{"EREF", "E2E", "END"}, prev: notWord, span: 80,
		re: regexp.MustCompile(`^(?:EREF\s*[+:/]|E2E(?:\s*ID)?\s*[:/]|END[- ]?TO[- ]?END(?:[- ]?(?:ID|REF))?\s*[:/]?)\s*([A-Z0-9][A-Z0-9\-/._]{3,34})`)}
	invoiceAt = trigger{words: []string{"INV", "RE", "RG", "FACT", "FV", "BILL"}, prev: notWord, span: 80,
		re: regexp.MustCompile(`^(?:INV(?:OICE)?|RE|RECHNUNG|RG|RECH|FACTUUR|FACTURE|FV|BILL)(?:\s*(?:NR|NO|NUMBER|NUM)\.?)?[\s\-_/#.:]*([A-Z]{0,3}[\-_/]?\d[\dA-Z\-/]{2,24}(?: \d[\dA-Z\-/]{1,12})*)`)}
	orderAt = trigger{words: []string{"SO", "PO", "ORD", "BESTELLUNG", "AUFTRAG"}, prev: notWord, span: 48,
		re: regexp.MustCompile(`^(?:SO|PO|ORDER|BESTELLUNG|AUFTRAG|ORD)(?:\s*(?:NR|NO)\.?)?[\s\-_/#.:]*(\d[\d\-]{2,14})\b`)}
	ibanAt = regexp.MustCompile(`^[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b`)
	// nextLabel ends a labelled value: "ACME CORP ORIG ID:123".
	nextLabel = regexp.MustCompile(`\s+(?:ORIG ID|DESC DATE|CO ENTRY DESCR|CO DESCR|IND ID|ORIG BNK|ENTRY DESCR)\s*:|\s+[A-Z]{2,12}\s*:|\s{2,}|\s+(?:EREF|KREF|MREF|SVWZ|IBAN|BIC)[+:/ ]`)
	bicCode   = regexp.MustCompile(`^[A-Z]{6}[A-Z2-9][A-NP-Z0-9](?:[A-Z0-9]{3})?$`)
)

// trigger is a pattern anchored at its keywords.
type trigger struct {
	words []string        // in capitals; a match starts where one starts
	prev  func(byte) bool // what the byte before the keyword must be
	span  int             // the most bytes a match covers
	re    *regexp.Regexp  // anchored with ^, on the capitals
	by    [256][]string   // words by their first byte (index)
}

func (tr *trigger) index() {
	for _, w := range tr.words {
		tr.by[w[0]] = append(tr.by[w[0]], w)
	}
}

func init() {
	for _, tr := range []*trigger{&nameAt, &bicAt, &e2eAt, &invoiceAt, &orderAt} {
		tr.index()
	}
}

func isWord(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
}
func notWord(c byte) bool { return !isWord(c) }
func labelStart(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '/' || c == ';' || c == ',' || c == '|' || c == '?'
}

// each calls fn with the submatches (cut from text) of every match, in
// text order, until fn returns false.
func (tr *trigger) each(text, up string, fn func(sub []string) bool) {
	for p := 0; p < len(up); p++ {
		ws := tr.by[up[p]]
		if len(ws) == 0 || (p > 0 && !tr.prev(up[p-1])) {
			continue
		}
		hit := false
		for _, w := range ws {
			if strings.HasPrefix(up[p:], w) {
				hit = true
				break
			}
		}
		if !hit {
			continue
		}
		loc := tr.re.FindStringSubmatchIndex(up[p:min(len(up), p+tr.span)])
		if loc == nil {
			continue
		}
		sub := make([]string, len(loc)/2)
		for k := range sub {
			if loc[2*k] >= 0 {
				sub[k] = text[p+loc[2*k] : p+loc[2*k+1]]
			}
		}
		if !fn(sub) {
			return
		}
	}
}

// first is the first match's submatches, or nil.
func (tr *trigger) first(text, up string) []string {
	var out []string
	tr.each(text, up, func(sub []string) bool { out = sub; return false })
	return out
}

// upperASCII upper-cases ASCII letters only, so byte offsets stay.
func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// legal forms that end a company name written at the start of a text.
var legalForms = map[string]bool{"GMBH": true, "MBH": true, "AG": true, "KG": true, "EV": true, "LTD": true, "LIMITED": true,
	"INC": true, "LLC": true, "LLP": true, "PLC": true, "CORP": true, "CORPORATION": true, "BV": true, "NV": true, "SA": true,
	"SAS": true, "SARL": true, "SRL": true, "SPA": true, "OY": true, "AB": true, "AS": true, "APS": true, "SE": true, "UG": true}

// Extract reads text.
func Extract(text string) Fields { return extract(text, wantAll) }

// What extract looks for.
const (
	wantName = 1 << iota
	wantIBAN
	wantBIC
	wantE2E
	wantRefs
	wantAll = wantName | wantIBAN | wantBIC | wantE2E | wantRefs
)

func extract(text string, want int) Fields {
	var f Fields
	if strings.TrimSpace(text) == "" {
		return f
	}
	up := upperASCII(text)
	if want&(wantIBAN|wantName) != 0 {
		f.IBAN = findIBAN(up)
	}
	if want&wantBIC != 0 {
		if m := bicAt.first(text, up); m != nil {
			f.BIC = strings.ToUpper(m[1])
		}
	}
	if want&wantE2E != 0 {
		if m := e2eAt.first(text, up); m != nil && !none(m[1]) {
			v, _, _ := strings.Cut(m[1], "//") // SWIFT tags follow: /EREF/x//CNTP/…
			f.EndToEndID = strings.TrimRight(v, "/.")
		}
	}
	if want&wantName != 0 {
		f.Name = labelledName(text, up)
		if f.Name == "" && f.IBAN != "" {
			f.Name = nameBeforeIBAN(text)
		}
		if f.Name == "" {
			f.Name = leadingCompany(text)
		}
	}
	if want&wantRefs == 0 {
		return f
	}
	seen := map[string]bool{}
	for _, tr := range []*trigger{&invoiceAt, &orderAt} {
		n := 0
		tr.each(text, up, func(m []string) bool {
			v := strings.Trim(m[1], "-/_.")
			if len(v) >= 3 && !seen[v] && (f.IBAN == "" || !strings.Contains(f.IBAN, v)) {
				seen[v] = true
				f.References = append(f.References, v)
			}
			n++
			return n < 8
		})
	}
	return f
}

func labelledName(text, up string) string {
	var name string
	nameAt.each(text, up, func(m []string) bool {
		v := m[1]
		if loc := nextLabel.FindStringIndex(v); loc != nil {
			v = v[:loc[0]]
		}
		// A name ends before an account or reference number.
		words := strings.Fields(v)
		for i, w := range words {
			if digits(w) >= 4 {
				words = words[:i]
				break
			}
		}
		name = cleanName(strings.Join(words, " "))
		return name == ""
	})
	return name
}

// swiftTag: "CNTP", "BENM", "IBAN" — a tag, not a value.
func swiftTag(s string) bool {
	if len(s) < 2 || len(s) > 4 {
		return false
	}
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

func digits(w string) int {
	n := 0
	for _, r := range w {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}

// nameBeforeIBAN: "…:Penta Fintech GmbH:DE36110101002052879182:…" — in
// colon- or slash-separated layouts the name stands before the IBAN.
func nameBeforeIBAN(text string) string {
	for _, sep := range []string{":", "/", ";", "|"} {
		parts := strings.Split(text, sep)
		for i := 1; i < len(parts); i++ {
			if strings.ReplaceAll(strings.TrimSpace(parts[i]), " ", "") == "" || !validIBAN(strings.ReplaceAll(strings.TrimSpace(parts[i]), " ", "")) {
				continue
			}
			prev := strings.TrimSpace(parts[i-1])
			if prev == "CNTP" && i+2 < len(parts) { // SWIFT /CNTP/IBAN/BIC/NAME/CITY/
				return cleanName(parts[i+2])
			}
			if v := cleanName(prev); v != "" && i-1 > 0 && !swiftTag(prev) {
				return v
			}
		}
	}
	return ""
}

// leadingCompany: a company name opening the text, recognised by its legal
// form ("ACME OFFICE SUPPLIES GMBH Payment INV-2026-00123").
func leadingCompany(text string) string {
	words := strings.Fields(text)
	for i, w := range words {
		if i >= 8 || strings.IndexFunc(w, unicode.IsDigit) >= 0 {
			break
		}
		if legalForms[strings.ToUpper(strings.Trim(strings.ReplaceAll(w, ".", ""), ",;"))] && i > 0 {
			return cleanName(strings.Join(words[:i+1], " "))
		}
	}
	return ""
}

// cleanName trims a candidate name; one without two letters in a row, or
// that is a number or a booking keyword, is none.
func cleanName(v string) string {
	v = strings.Trim(strings.TrimSpace(v), ",;:.-/")
	letters := 0
	for _, r := range v {
		if unicode.IsLetter(r) {
			letters++
		}
	}
	if letters < 2 || len(v) > 70 {
		return ""
	}
	switch strings.ToUpper(v) {
	case "NOTPROVIDED", "NONREF", "NONE", "N/A", "UNKNOWN":
		return ""
	}
	return v
}

// none: the placeholders banks write for a missing reference.
func none(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "NOTPROVIDED", "NONREF", "NONE", "":
		return true
	}
	return false
}

// findIBAN is the first checksum-valid IBAN in up (the text in capitals).
func findIBAN(up string) string {
	for p := 0; p+4 <= len(up); p++ {
		c := up[p]
		if c < 'A' || c > 'Z' || (p > 0 && isWord(up[p-1])) || up[p+1] < 'A' || up[p+1] > 'Z' ||
			up[p+2] < '0' || up[p+2] > '9' || up[p+3] < '0' || up[p+3] > '9' {
			continue
		}
		if m := ibanAt.FindString(up[p:min(len(up), p+48)]); m != "" {
			if s := strings.ReplaceAll(m, " ", ""); validIBAN(s) {
				return s
			}
		}
	}
	return ""
}

// validIBAN checks the length and the ISO 13616 mod-97 checksum.
func validIBAN(s string) bool {
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	for i, c := range s {
		switch {
		case i < 2 && (c < 'A' || c > 'Z'), i >= 2 && i < 4 && (c < '0' || c > '9'):
			return false
		case !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'):
			return false
		}
	}
	rem := 0
	for _, c := range s[4:] + s[:4] {
		if c >= 'A' {
			v := int(c-'A') + 10
			rem = (rem*100 + v) % 97
		} else {
			rem = (rem*10 + int(c-'0')) % 97
		}
	}
	return rem == 1
}

// Enrich fills t's counterparty fields, end-to-end id and text references
// from its free text and from the structured details its format left in
// Extra. RawText keeps the whole text where the parser's description is
// only a part of it (MT940 :86:); elsewhere the description is the text. What the format gave in its own
// fields stays: a name from MT940 ?32 or camt <Dbtr><Nm> is not replaced.
func Enrich(t *record.Transaction) {
	chequeReference(t)
	text := t.RawText // set by a parser whose description is a part of the text (MT940: SVWZ+)
	if text == "" {
		text = t.Description
	}
	move := func(key string, dst *string) {
		if v := strings.TrimSpace(t.Extra[key]); v != "" {
			if *dst == "" {
				*dst = v
			}
			delete(t.Extra, key)
		}
	}
	move("counterparty_account", &t.CounterpartyAccount)
	move("counterparty_iban", &t.CounterpartyAccount)
	move("counterparty_bic", &t.CounterpartyBIC)
	move("end_to_end_id", &t.EndToEndID)
	if v := t.Extra["eref"]; v != "" && !none(v) && t.EndToEndID == "" {
		t.EndToEndID = v
	}
	if v := strings.TrimSpace(t.Extra["counterparty_bank"]); t.CounterpartyBIC == "" && bicCode.MatchString(v) {
		t.CounterpartyBIC = v // MT940 ?30 holds a BIC or a German bank code
	}
	if text == "" {
		return
	}
	// Only what the format did not give is looked for.
	want := wantRefs
	if t.Counterparty == "" {
		want |= wantName
	}
	if t.CounterpartyAccount == "" {
		want |= wantIBAN
	}
	if t.CounterpartyBIC == "" {
		want |= wantBIC
	}
	if t.EndToEndID == "" {
		want |= wantE2E
	}
	f := extract(text, want)
	if t.Counterparty == "" {
		t.Counterparty = f.Name
	}
	if t.CounterpartyAccount == "" {
		t.CounterpartyAccount = f.IBAN
	}
	if t.CounterpartyBIC == "" {
		t.CounterpartyBIC = f.BIC
	}
	if t.EndToEndID == "" {
		t.EndToEndID = f.EndToEndID
	}
	if t.Reference == "" && t.EndToEndID != "" {
		t.Reference = t.EndToEndID
	}
	t.TextReferences = f.References
}

// chequeReference writes a paid or deposited cheque's serial number as
// the reference "CHQ <serial>" where the bank reports the entry as a
// cheque (BAI2 474/475, MT940 CHK, camt ICHQ/RCHQ families or a ChqNb)
// and gives the serial in the cheque-number field, the bank reference
// field or a reference that is only the number: the rules' cheque
// extractor then finds it on both sides, however the ledger writes it.
func chequeReference(t *record.Transaction) {
	if t.Side != record.Bank {
		return
	}
	serial := strings.TrimSpace(t.Extra["cheque_number"])
	code := strings.ToUpper(t.TypeCode)
	cheque := serial != "" || code == "474" || code == "475" || strings.HasSuffix(code, "CHK") ||
		strings.Contains(code, "/ICHQ/") || strings.Contains(code, "/RCHQ/") || strings.Contains(code, "/CCHQ")
	if !cheque {
		return
	}
	ref := strings.TrimSpace(t.Reference)
	switch {
	case serial != "":
	case digitsOnly(ref):
		serial = ref
	case ref == "" && digitsOnly(strings.TrimSpace(t.BankReference)):
		serial = strings.TrimSpace(t.BankReference)
	}
	if serial == "" || !(ref == "" || digitsOnly(ref) || ref == serial) {
		return
	}
	t.Reference = "CHQ " + serial
}

func digitsOnly(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
