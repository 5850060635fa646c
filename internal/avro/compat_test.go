package avro

import (
	"strings"
	"testing"
)

const base = `{"type":"record","name":"T","namespace":"n","fields":[
 {"name":"id","type":"string"},
 {"name":"n","type":"int"},
 {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
 {"name":"amt","type":{"type":"bytes","logicalType":"decimal","precision":38,"scale":6}},
 {"name":"opt","type":["null","string"],"default":null},
 {"name":"items","type":{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"x","type":"long"}]}}},
 {"name":"again","type":{"type":"array","items":"I"}}
]}`

func TestCheckBackward(t *testing.T) {
	tests := []struct {
		name, newSchema, want string
	}{
		{"same", base, ""},
		{"add field with default", strings.Replace(base, `{"name":"id","type":"string"},`, `{"name":"id","type":"string"},{"name":"z","type":"string","default":""},`, 1), ""},
		{"remove field", strings.Replace(base, `{"name":"n","type":"int"},`, ``, 1), ""},
		{"promote int to long", strings.Replace(base, `"name":"n","type":"int"`, `"name":"n","type":"long"`, 1), ""},
		{"add enum symbol", strings.Replace(base, `["A","B"]`, `["A","B","C"]`, 1), ""},
		{"add field without default", strings.Replace(base, `{"name":"id","type":"string"},`, `{"name":"id","type":"string"},{"name":"z","type":"string"},`, 1), "$.z: new field has no default"},
		{"narrow long to int", strings.Replace(base, `{"name":"x","type":"long"}`, `{"name":"x","type":"int"}`, 1), "$.items[].x: type changed from long to int"},
		{"remove enum symbol", strings.Replace(base, `["A","B"]`, `["A"]`, 1), "enum symbol B removed"},
		{"change decimal scale", strings.Replace(base, `"scale":6`, `"scale":2`, 1), "logical type changed"},
		{"make optional required", strings.Replace(base, `["null","string"],"default":null`, `"string","default":""`, 1), "$.opt|0: type changed from null to string"},
		{"rename record", strings.Replace(base, `"name":"T"`, `"name":"U"`, 1), "record name changed"},
		{"rename with alias", strings.Replace(base, `"name":"T"`, `"name":"U","aliases":["T"]`, 1), ""},
	}
	for _, tt := range tests {
		err := CheckBackward(base, tt.newSchema)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: unexpected %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
}
