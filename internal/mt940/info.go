package mt940

import (
	"strings"
)

// info is what the :86: field says, structured where a known dialect is used.
type info struct {
	raw          string
	reference    string
	counterparty string
	description  string
	extra        map[string]string
}

// Hand-written scanners: :86: is parsed once per entry and regular
// expressions made it the parser's bottleneck.

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

// germanStart: "166?…"; angleStart: "020>20…" or "020^20…".
func germanStart(s string) bool {
	return len(s) >= 4 && isDigit(s[0]) && isDigit(s[1]) && isDigit(s[2]) && s[3] == '?'
}

func angleStart(s string) bool {
	return len(s) >= 6 && isDigit(s[0]) && isDigit(s[1]) && isDigit(s[2]) && (s[3] == '>' || s[3] == '^') && isDigit(s[4]) && isDigit(s[5])
}

// keywordStart: a line opening with a new keyword ("SVWZ+", "MTLG:").
func keywordStart(s string) bool {
	return len(s) >= 5 && isUpper(s[0]) && isUpper(s[1]) && isUpper(s[2]) && isUpper(s[3]) && (s[4] == '+' || s[4] == ':')
}

// fieldMarks finds subfield marks: a separator byte (one of seps) and two
// digits, as [start, end, code start, code end].
func fieldMarks(s, seps string) [][]int {
	var out [][]int
	for i := 0; i+2 < len(s); i++ {
		if strings.IndexByte(seps, s[i]) >= 0 && isDigit(s[i+1]) && isDigit(s[i+2]) {
			out = append(out, []int{i, i + 3, i + 1, i + 3})
			i += 2
		}
	}
	return out
}

var sepaKeywords = map[string]bool{"EREF": true, "KREF": true, "MREF": true, "CRED": true, "DEBT": true, "SVWZ": true,
	"ABWA": true, "ABWE": true, "IBAN": true, "COAM": true, "OAMT": true}

// sepaMarks finds "EREF+", "SVWZ+", "BIC+" … in remittance text.
func sepaMarks(s string) [][]int {
	var out [][]int
	for i := 3; i < len(s); i++ {
		if s[i] != '+' {
			continue
		}
		if i >= 4 && sepaKeywords[s[i-4:i]] {
			out = append(out, []int{i - 4, i + 1, i - 4, i})
		} else if s[i-3:i] == "BIC" {
			out = append(out, []int{i - 3, i + 1, i - 3, i})
		}
	}
	return out
}

var (
	slashTags = []string{"EREF", "KREF", "MARF", "CRED", "REMI", "CNTP", "ORDP", "BENM", "NAME", "IBAN", "BIC", "ADDR",
		"CSID", "RTRN", "PURP", "OCMT", "CHGS", "EXCH", "TRCD", "PREF", "ULTB", "ULTD", "ACCW", "BUSP", "SVCL", "PT", "PY", "FT"}
)

// parseInfo reads :86: text in the dialects banks use: German ?NN
// subfields (with SEPA keywords EREF+, SVWZ+ …), SWIFT /TAG/value/ codes,
// and the >NN subfields of Polish banks. Other text is kept as description.
func parseInfo(lines []string) info {
	joinedTight := strings.Join(lines, "")
	in := info{extra: map[string]string{}}
	switch {
	case germanStart(joinedTight) || strings.HasPrefix(joinedTight, "?00"):
		in.raw = joinedTight
		in.subfields(joinedTight, "?", germanRemittance)
	case angleStart(joinedTight):
		in.raw = joinedTight
		in.subfields(joinedTight, ">^", angleRemittance)
	default:
		in.raw = strings.TrimSpace(strings.Join(trimAll(lines), " "))
		if strings.HasPrefix(in.raw, "/") {
			in.slash(strings.Join(trimAll(lines), ""))
		} else {
			in.description = in.raw
		}
	}
	return in
}

func trimAll(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if t := strings.TrimSpace(l); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// subfields splits "166?00TEXT?20…" (or ">20…") into numbered fields.
// Subfields that carry remittance text, per dialect.
var (
	germanRemittance = []string{"20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "60", "61", "62", "63"}
	angleRemittance  = []string{"20", "21", "22", "23", "24", "25", "26"}
)

func (in *info) subfields(s string, seps string, remittance []string) {
	if len(s) >= 3 && s[0] >= '0' && s[0] <= '9' {
		in.extra["transaction_code"] = s[:3]
		s = s[3:]
	}
	locs := fieldMarks(s, seps)
	fields := map[string]string{}
	for i, l := range locs {
		end := len(s)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		fields[s[l[2]:l[3]]] += s[l[1]:end]
	}
	// Remittance lines wrap mid-word, so they join without a space; a line
	// that opens with a new keyword ("SVWZ+", "MTLG:") starts a new value.
	var desc strings.Builder
	for _, k := range remittance {
		v := fields[k]
		if desc.Len() > 0 && keywordStart(v) {
			desc.WriteString("\n")
		}
		desc.WriteString(v)
	}
	name := strings.TrimSpace(fields["32"] + fields["33"])
	if name == "" { // >NN dialect: 27/28 hold the name
		name = strings.TrimSpace(fields["27"] + fields["28"])
	}
	in.counterparty = name
	if v := strings.TrimSpace(fields["00"]); v != "" {
		in.extra["posting_text"] = v
	}
	if v := strings.TrimSpace(fields["30"]); v != "" {
		in.extra["counterparty_bank"] = v
	}
	if v := strings.TrimSpace(fields["31"]); v != "" {
		in.extra["counterparty_account"] = v
	}
	if v := strings.TrimSpace(fields["38"]); v != "" {
		in.extra["counterparty_iban"] = v
	}
	text := desc.String()
	// SEPA keywords inside the remittance text.
	keys := sepaMarks(text)
	if len(keys) == 0 {
		in.description = strings.TrimSpace(strings.ReplaceAll(text, "\n", " "))
		return
	}
	kv := map[string]string{}
	for i, k := range keys {
		end := len(text)
		if i+1 < len(keys) {
			end = keys[i+1][0]
		}
		v := text[k[1]:end]
		if nl := strings.IndexByte(v, '\n'); nl >= 0 {
			v = v[:nl]
		}
		kv[text[k[2]:k[3]]] += strings.TrimSpace(v)
	}
	for k, v := range kv {
		in.extra[strings.ToLower(k)] = v
	}
	if v := kv["EREF"]; v != "" && v != "NOTPROVIDED" {
		in.reference = v
	} else if v := kv["KREF"]; v != "" && v != "NOTPROVIDED" {
		in.reference = v
	}
	in.description = kv["SVWZ"]
	if in.description == "" {
		in.description = strings.TrimSpace(strings.ReplaceAll(text, "\n", " "))
	}
	if in.counterparty == "" {
		in.counterparty = kv["ABWA"]
	}
}

// slash reads SWIFT-style "/TAG/value" codes: /EREF/…, /REMI/USTD//…,
// /CNTP/IBAN/BIC/NAME/CITY/, /NAME/…, /IBAN/….
func (in *info) slash(s string) {
	type pos struct {
		tag        string
		start, end int
	}
	var found []pos
	for i := 0; i < len(s); i++ {
		if s[i] != '/' {
			continue
		}
		for _, t := range slashTags {
			if strings.HasPrefix(s[i+1:], t+"/") {
				found = append(found, pos{t, i, i + len(t) + 2})
				i += len(t)
				break
			}
		}
	}
	if len(found) == 0 {
		in.description = in.raw
		return
	}
	vals := map[string]string{}
	for i, f := range found {
		end := len(s)
		if i+1 < len(found) {
			end = found[i+1].start
		}
		if end > f.end { // "/PT/FT/" shares a slash: PT is empty
			vals[f.tag] = strings.Trim(s[f.end:end], "/ ")
		}
	}
	for k, v := range vals {
		in.extra[strings.ToLower(k)] = v
	}
	if v := vals["EREF"]; v != "" && v != "NOTPROVIDED" {
		in.reference = v
	}
	if v := vals["REMI"]; v != "" {
		v = strings.TrimPrefix(strings.TrimPrefix(v, "USTD"), "STRD")
		in.description = strings.Trim(v, "/ ")
	}
	if c := vals["CNTP"]; c != "" {
		parts := strings.Split(c, "/")
		if len(parts) >= 3 {
			in.counterparty = strings.TrimSpace(parts[2])
		}
		if len(parts) >= 1 && parts[0] != "" {
			in.extra["counterparty_iban"] = parts[0]
		}
	}
	if in.counterparty == "" {
		in.counterparty = vals["NAME"]
	}
	if in.description == "" {
		in.description = in.raw
	}
}
