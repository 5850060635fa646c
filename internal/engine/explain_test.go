package engine

import (
	"reflect"
	"testing"
)

// TestCheck: every mistake of a rules text is named with its line and
// key, whether the YAML decoder or the validation finds it.
func TestCheck(t *testing.T) {
	for _, c := range []struct {
		text string
		want []Problem
	}{
		{"rules:\n  - name: a\n    referense: exact\n", []Problem{{3, "rules[0].referense", "unknown key referense (internal/engine/rules.go lists the keys)"}}},
		{"rules:\n  - name: a\n    date: {before: x}\n", []Problem{{3, "rules[0].date", "cannot unmarshal !!str `x` into int"}}},
		{"grace_days: 1\nrules:\n  - name: a\n    reference: exact\n  - name: b\n    amount: {percent: abc}\n    cardinality: \"2:2\"\n",
			[]Problem{{6, "rules[1].amount.percent", `amount.percent "abc": want a non-negative decimal`},
				{7, "rules[1].cardinality", `cardinality "2:2": want 1:1, 1:N, N:1 or N:M`}}},
		{"grace_days: -1\nrules:\n  - name: a\n", []Problem{{1, "grace_days", "grace_days: must not be negative"}}},
		{"rules: [\n", []Problem{{1, "", "did not find expected node content"}}},
	} {
		if got := Check([]byte(c.text)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", c.text, got, c.want)
		}
	}
	if got := Check(defaultRules); got != nil {
		t.Errorf("the built-in rules: %v", got)
	}
}
