package telemetry

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestLogsMaskAccounts(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var b bytes.Buffer
		log := NewLogger(&b, "info", format)
		log.Info("refused DE89370400440532013000 for NO9386011117947", "account", "GB29NWBK60161331926819", "key", "77004321|USD",
			"err", errors.New(`key "DE89370400440532013000|EUR" does not match`), "offset", 123456789012, "file", "bank/2026-03-02.xml")
		out := b.String()
		for _, full := range []string{"DE89370400440532013000", "NO9386011117947", "GB29NWBK60161331926819", "77004321"} {
			if strings.Contains(out, full) {
				t.Errorf("%s log shows %s: %s", format, full, out)
			}
		}
		for _, want := range []string{"****3000", "****7947", "****6819", "****4321|USD", "123456789012", "bank/2026-03-02.xml"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s log lacks %s: %s", format, want, out)
			}
		}
	}
}
