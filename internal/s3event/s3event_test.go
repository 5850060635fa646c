package s3event

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// A notification exactly as S3 sends it (event structure version 2.1).
const putEvent = `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-central-1",
"eventTime":"2026-03-02T08:15:30.123Z","eventName":"ObjectCreated:Put",
"userIdentity":{"principalId":"AWS:AIDAJDPLRKLG7UEXAMPLE"},
"requestParameters":{"sourceIPAddress":"127.0.0.1"},
"responseElements":{"x-amz-request-id":"C3D13FE58DE4C810","x-amz-id-2":"FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
"s3":{"s3SchemaVersion":"1.0","configurationId":"recon-incoming",
"bucket":{"name":"recon-incoming","ownerIdentity":{"principalId":"A3NL1KOZZKExample"},"arn":"arn:aws:s3:::recon-incoming"},
"object":{"key":"bank/March+2026%2C+final%28v2%29.csv","size":1024,"eTag":"d41d8cd98f00b204e9800998ecf8427e","versionId":"096fKKXTRTtl3on89fVO.nfljtsv6qko","sequencer":"0055AED6DCD90281E5"}}},
{"eventVersion":"2.1","eventSource":"aws:s3","eventTime":"2026-03-02T08:15:31Z","eventName":"ObjectCreated:CompleteMultipartUpload",
"s3":{"bucket":{"name":"recon-incoming"},"object":{"key":"ledger/gl%2Fexport.csv","size":5,"sequencer":"0055AED6DCD90281E6"}}},
{"eventVersion":"2.1","eventSource":"aws:s3","eventTime":"2026-03-02T08:15:32Z","eventName":"ObjectRemoved:Delete",
"s3":{"bucket":{"name":"recon-incoming"},"object":{"key":"bank/old.csv","sequencer":"0055AED6DCD90281E7"}}}]}`

const testEvent = `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-03-02T08:00:00.000Z","Bucket":"recon-incoming","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}`

func TestDecode(t *testing.T) {
	objs, err := Decode([]byte(putEvent))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("got %d objects, want the 2 creations", len(objs))
	}
	if o := objs[0]; o.Bucket != "recon-incoming" || o.Key != "bank/March 2026, final(v2).csv" || o.Size != 1024 ||
		o.ETag != "d41d8cd98f00b204e9800998ecf8427e" || o.EventTime.UnixMilli() != 1772439330123 {
		t.Errorf("object 0 = %+v", o)
	}
	if objs[1].Key != "ledger/gl/export.csv" {
		t.Errorf("object 1 key = %q", objs[1].Key)
	}
	if objs, err := Decode([]byte(testEvent)); err != nil || len(objs) != 0 {
		t.Errorf("test event: %v, %v", objs, err)
	}
	env, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "m", "TopicArn": "arn", "Message": putEvent})
	if objs, err := Decode(env); err != nil || len(objs) != 2 {
		t.Errorf("SNS envelope: %v, %v", objs, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := map[string]string{
		`not json`:  "not an S3 event",
		`{"foo":1}`: "no Records",
		`{"Records":[{"eventName":"ObjectCreated:Put"}]}`:                                                              "Records[0]: no s3 section",
		`{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a%zz"}}}]}`:         "Records[0].s3.object.key",
		`{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":""},"object":{"key":"a"}}}]}`:             "empty bucket or key",
		`{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a","size":"x"}}}]}`: "size",
		`{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a","size":-1}}}]}`:  "size",
	}
	for in, want := range tests {
		_, err := Decode([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%s) = %v, want %q", in, err, want)
		}
	}
	if _, err := Decode([]byte("[]")); !errors.Is(err, ErrNotS3Event) {
		t.Errorf("array: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(putEvent))
	f.Add([]byte(testEvent))
	f.Add([]byte(`{"Type":"Notification","Message":"{\"Records\":[]}"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		objs, err := Decode(b)
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.Bucket == "" || o.Key == "" || o.Size < 0 {
				t.Fatalf("invalid object passed: %+v", o)
			}
		}
	})
}
