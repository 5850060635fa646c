package mt940

import (
	"bytes"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// decoder turns a raw line into UTF-8. Lines that are valid UTF-8 stay as
// they are; others are read with a single-byte code page chosen from the
// first such line: ISO-8859-2 when it holds bytes that in Central European
// text are letters (ő ű Ő Ű ł Ł ą) and no CP1252-only byte (0x80–0x9F),
// CP1252 otherwise (which covers ISO-8859-1's printable range).
type decoder struct {
	cm *charmap.Charmap
}

func (d *decoder) line(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	if d.cm == nil {
		d.cm = charmap.Windows1252
		c1 := false
		latin2 := false
		for _, c := range b {
			switch {
			case c >= 0x80 && c <= 0x9F:
				c1 = true
			case bytes.IndexByte([]byte{0xF5, 0xFB, 0xD5, 0xDB, 0xB3, 0xA3, 0xB1}, c) >= 0:
				latin2 = true
			}
		}
		if latin2 && !c1 {
			d.cm = charmap.ISO8859_2
		}
	}
	out, err := d.cm.NewDecoder().Bytes(b)
	if err != nil {
		return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
	}
	return string(out)
}
