package localredis

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
)

// An entry on disk is [4 bytes length][4 bytes CRC-32C of the payload]
// [payload]; little-endian. The payload is a uvarint of the time in
// milliseconds (the clock the commands ran under), a uvarint command count,
// and each command as a uvarint argument count and each argument as a
// uvarint length and its bytes.
//
// Snapshot and log use the same framing; a snapshot's first entry is its
// header (a single command "recon-snapshot", version, generation).

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxEntry bounds one entry, so a corrupt length cannot make the reader
// allocate gigabytes.
const maxEntry = 1 << 30

// entry is one logged write: the commands of one call (a command or a
// pipeline), run in order at time ms.
type entry struct {
	ms   int64
	cmds [][]string
}

func (e entry) encode(buf []byte) []byte {
	buf = append(buf[:0], make([]byte, 8)...)
	buf = binary.AppendUvarint(buf, uint64(e.ms))
	buf = binary.AppendUvarint(buf, uint64(len(e.cmds)))
	for _, c := range e.cmds {
		buf = binary.AppendUvarint(buf, uint64(len(c)))
		for _, a := range c {
			buf = binary.AppendUvarint(buf, uint64(len(a)))
			buf = append(buf, a...)
		}
	}
	binary.LittleEndian.PutUint32(buf[0:4], uint32(len(buf)-8))
	binary.LittleEndian.PutUint32(buf[4:8], crc32.Checksum(buf[8:], castagnoli))
	return buf
}

// errTorn marks the end of the valid entries of a file: a partial or
// corrupt entry (a write the process did not finish).
var errTorn = errors.New("torn entry")

// reader reads entries and counts the bytes of the valid ones.
type reader struct {
	r     *bufio.Reader
	valid int64 // bytes of the entries read so far
	buf   []byte
}

func newReader(r io.Reader) *reader { return newReaderSize(r, 1<<20) }

func newReaderSize(r io.Reader, size int) *reader { return &reader{r: bufio.NewReaderSize(r, size)} }

// next returns the next entry, io.EOF at a clean end, or errTorn.
func (rd *reader) next() (entry, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(rd.r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return entry{}, io.EOF
		}
		return entry{}, errTorn
	}
	n := binary.LittleEndian.Uint32(hdr[0:4])
	if n > maxEntry {
		return entry{}, errTorn
	}
	p, err := readN(rd.r, int(n), rd.buf)
	rd.buf = p
	if err != nil {
		return entry{}, errTorn
	}
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(hdr[4:8]) {
		return entry{}, errTorn
	}
	e, err := decodePayload(p)
	if err != nil {
		return entry{}, errTorn
	}
	rd.valid += int64(8 + n)
	return e, nil
}

// readN reads n bytes into buf, growing it a megabyte at a time as the
// bytes arrive: a corrupt length makes the reader fail at the end of the
// file, not allocate what the length claims.
func readN(r io.Reader, n int, buf []byte) ([]byte, error) {
	const step = 1 << 20
	buf = buf[:0]
	for len(buf) < n {
		k := min(n-len(buf), step)
		buf = slices.Grow(buf, k)
		m, err := io.ReadFull(r, buf[len(buf):len(buf)+k])
		buf = buf[:len(buf)+m]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

func decodePayload(p []byte) (entry, error) {
	var e entry
	uv := func() (uint64, error) {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, errors.New("bad varint")
		}
		p = p[n:]
		return v, nil
	}
	ms, err := uv()
	if err != nil {
		return e, err
	}
	e.ms = int64(ms)
	nc, err := uv()
	if err != nil || nc > uint64(len(p)) {
		return e, fmt.Errorf("bad command count")
	}
	e.cmds = make([][]string, 0, nc)
	for range nc {
		na, err := uv()
		if err != nil || na > uint64(len(p)) {
			return e, fmt.Errorf("bad argument count")
		}
		c := make([]string, 0, na)
		for range na {
			l, err := uv()
			if err != nil || l > uint64(len(p)) {
				return e, fmt.Errorf("bad argument length")
			}
			c = append(c, string(p[:l]))
			p = p[l:]
		}
		e.cmds = append(e.cmds, c)
	}
	if len(p) != 0 {
		return e, errors.New("trailing bytes")
	}
	return e, nil
}

// syncDir makes a rename or a new file in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
