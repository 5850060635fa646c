// Package s3event decodes S3 event notifications as S3 sends them (the
// "Records" JSON of ObjectCreated events, the s3:TestEvent sent when a
// notification is configured), also when wrapped in an SNS envelope, and
// the project's own Avro FileEvent.
package s3event

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Object is one object an event announces.
type Object struct {
	Bucket    string
	Key       string // URL-decoded
	Size      int64
	ETag      string
	Sequencer string
	EventName string
	EventTime time.Time
}

// ErrNotS3Event means the payload is not an S3 notification at all.
var ErrNotS3Event = errors.New("not an S3 event notification")

type notification struct {
	Records []struct {
		EventVersion string    `json:"eventVersion"`
		EventSource  string    `json:"eventSource"`
		EventTime    time.Time `json:"eventTime"`
		EventName    string    `json:"eventName"`
		S3           *struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key       string          `json:"key"`
				Size      json.RawMessage `json:"size"`
				ETag      string          `json:"eTag"`
				Sequencer string          `json:"sequencer"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
	// s3:TestEvent
	Event   string `json:"Event"`
	Service string `json:"Service"`
	// SNS envelope
	Type    string `json:"Type"`
	Message string `json:"Message"`
}

// Decode returns the created objects of an event. A test event, and events
// that are not object creations (deletions, restores …), yield no objects
// and no error. A malformed record is an error naming the record.
func Decode(b []byte) ([]Object, error) {
	return decode(b, 0)
}

func decode(b []byte, depth int) ([]Object, error) {
	var n notification
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotS3Event, err)
	}
	if n.Type == "Notification" && n.Message != "" && depth == 0 {
		return decode([]byte(n.Message), depth+1)
	}
	if n.Event == "s3:TestEvent" {
		return nil, nil
	}
	if n.Records == nil {
		return nil, fmt.Errorf("%w: no Records", ErrNotS3Event)
	}
	var out []Object
	for i, r := range n.Records {
		if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			continue
		}
		if r.S3 == nil {
			return nil, fmt.Errorf("s3 event: Records[%d]: no s3 section", i)
		}
		key, err := DecodeKey(r.S3.Object.Key)
		if err != nil {
			return nil, fmt.Errorf("s3 event: Records[%d].s3.object.key %q: %v", i, r.S3.Object.Key, err)
		}
		if r.S3.Bucket.Name == "" || key == "" {
			return nil, fmt.Errorf("s3 event: Records[%d]: empty bucket or key", i)
		}
		var size int64
		if len(r.S3.Object.Size) > 0 {
			if err := json.Unmarshal(r.S3.Object.Size, &size); err != nil || size < 0 {
				return nil, fmt.Errorf("s3 event: Records[%d].s3.object.size %s: not a byte count", i, r.S3.Object.Size)
			}
		}
		out = append(out, Object{
			Bucket: r.S3.Bucket.Name, Key: key, Size: size,
			ETag: strings.Trim(r.S3.Object.ETag, `"`), Sequencer: r.S3.Object.Sequencer,
			EventName: r.EventName, EventTime: r.EventTime,
		})
	}
	return out, nil
}

// DecodeKey undoes S3's key encoding in notifications: URL encoding with
// '+' for space ("bank/March+2026%2C+final.csv" -> "bank/March 2026, final.csv").
func DecodeKey(k string) (string, error) {
	return url.QueryUnescape(k)
}
