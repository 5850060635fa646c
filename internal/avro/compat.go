package avro

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// CheckBackward reports whether data written with oldSchema can be read with
// newSchema (Avro schema resolution, "BACKWARD" in Schema Registry terms):
// fields the new schema adds need defaults, types may only be promoted,
// enum symbols may only be added (or the new enum has a default), and
// logical types must not change. It returns nil or an error naming every
// incompatible place by path.
func CheckBackward(oldSchema, newSchema string) error {
	var w, r any
	if err := json.Unmarshal([]byte(oldSchema), &w); err != nil {
		return fmt.Errorf("old schema: %w", err)
	}
	if err := json.Unmarshal([]byte(newSchema), &r); err != nil {
		return fmt.Errorf("new schema: %w", err)
	}
	c := &compat{wNames: map[string]any{}, rNames: map[string]any{}, seen: map[string]bool{}}
	collectNames(w, "", c.wNames)
	collectNames(r, "", c.rNames)
	c.check("$", w, r, "", "")
	if len(c.problems) > 0 {
		return fmt.Errorf("not backward compatible:\n  %s", strings.Join(c.problems, "\n  "))
	}
	return nil
}

type compat struct {
	wNames, rNames map[string]any
	seen           map[string]bool
	problems       []string
}

func (c *compat) fail(path, format string, args ...any) {
	c.problems = append(c.problems, path+": "+fmt.Sprintf(format, args...))
}

func fullName(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

func collectNames(s any, ns string, out map[string]any) {
	switch v := s.(type) {
	case []any:
		for _, b := range v {
			collectNames(b, ns, out)
		}
	case map[string]any:
		t, _ := v["type"].(string)
		if name, ok := v["name"].(string); ok && (t == "record" || t == "enum" || t == "fixed" || t == "error") {
			if n, ok := v["namespace"].(string); ok {
				ns = n
			}
			fn := fullName(name, ns)
			out[fn] = v
			if i := strings.LastIndex(fn, "."); i >= 0 {
				ns = fn[:i]
			}
		}
		if fields, ok := v["fields"].([]any); ok {
			for _, f := range fields {
				if fm, ok := f.(map[string]any); ok {
					collectNames(fm["type"], ns, out)
				}
			}
		}
		if items, ok := v["items"]; ok {
			collectNames(items, ns, out)
		}
		if values, ok := v["values"]; ok {
			collectNames(values, ns, out)
		}
		if _, ok := v["type"].(map[string]any); ok {
			collectNames(v["type"], ns, out)
		}
	}
}

// resolve turns a schema node into (kind, node): kind is the Avro type name
// ("record", "int", "union" …) with named references looked up.
func resolve(s any, ns string, names map[string]any) (string, map[string]any, []any, string) {
	switch v := s.(type) {
	case string:
		switch v {
		case "null", "boolean", "int", "long", "float", "double", "bytes", "string":
			return v, nil, nil, ns
		}
		for _, cand := range []string{fullName(v, ns), v} {
			if n, ok := names[cand].(map[string]any); ok {
				return resolve(n, ns, names)
			}
		}
		return "unknown:" + v, nil, nil, ns
	case []any:
		return "union", nil, v, ns
	case map[string]any:
		t := v["type"]
		if ts, ok := t.(string); ok {
			switch ts {
			case "record", "error", "enum", "fixed":
				if n, ok := v["namespace"].(string); ok {
					ns = n
				}
				if name, ok := v["name"].(string); ok {
					if fn := fullName(name, ns); strings.Contains(fn, ".") {
						ns = fn[:strings.LastIndex(fn, ".")]
					}
				}
				return ts, v, nil, ns
			case "array", "map":
				return ts, v, nil, ns
			}
			kind, _, _, _ := resolve(ts, ns, names)
			return kind, v, nil, ns
		}
		return resolve(t, ns, names)
	}
	return "invalid", nil, nil, ns
}

func logical(m map[string]any) string {
	if m == nil {
		return ""
	}
	lt, _ := m["logicalType"].(string)
	if lt == "decimal" {
		return fmt.Sprintf("decimal(%v,%v)", m["precision"], m["scale"])
	}
	return lt
}

var promotions = map[string][]string{
	"int":    {"long", "float", "double"},
	"long":   {"float", "double"},
	"float":  {"double"},
	"string": {"bytes"},
	"bytes":  {"string"},
}

// check: can a reader with schema r read data written with schema w?
func (c *compat) check(path string, w, r any, wns, rns string) {
	wk, wm, wu, wns2 := resolve(w, wns, c.wNames)
	rk, rm, ru, rns2 := resolve(r, rns, c.rNames)
	if wk == "union" {
		for i, b := range wu {
			c.check(fmt.Sprintf("%s|%d", path, i), b, r, wns2, rns2)
		}
		return
	}
	if rk == "union" {
		for _, b := range ru {
			sub := &compat{wNames: c.wNames, rNames: c.rNames, seen: c.seen}
			sub.check(path, w, b, wns2, rns2)
			if len(sub.problems) == 0 {
				return
			}
		}
		c.fail(path, "no branch of the new union reads old type %s", wk)
		return
	}
	if wk != rk {
		if slices.Contains(promotions[wk], rk) && logical(wm) == "" && logical(rm) == "" {
			return
		}
		c.fail(path, "type changed from %s to %s", wk, rk)
		return
	}
	if lw, lr := logical(wm), logical(rm); lw != lr && (wk == "bytes" || wk == "fixed" || wk == "int" || wk == "long") {
		c.fail(path, "logical type changed from %q to %q", lw, lr)
		return
	}
	switch rk {
	case "record", "error":
		key := fmt.Sprint(wm["name"], "->", rm["name"], "@", path)
		if c.seen[key] {
			return
		}
		c.seen[key] = true
		if !sameName(wm, rm, wns2, rns2) {
			c.fail(path, "record name changed from %v to %v", wm["name"], rm["name"])
			return
		}
		wf := map[string]map[string]any{}
		for _, f := range asSlice(wm["fields"]) {
			fm := f.(map[string]any)
			wf[fm["name"].(string)] = fm
		}
		for _, f := range asSlice(rm["fields"]) {
			fm := f.(map[string]any)
			name := fm["name"].(string)
			old, ok := wf[name]
			if !ok {
				for _, a := range asSlice(fm["aliases"]) {
					if o, ok2 := wf[a.(string)]; ok2 {
						old, ok = o, true
						break
					}
				}
			}
			if !ok {
				if _, hasDefault := fm["default"]; !hasDefault {
					c.fail(path+"."+name, "new field has no default")
				}
				continue
			}
			c.check(path+"."+name, old["type"], fm["type"], wns2, rns2)
		}
	case "enum":
		if _, hasDefault := rm["default"]; hasDefault {
			return
		}
		rs := asSlice(rm["symbols"])
		for _, s := range asSlice(wm["symbols"]) {
			if !slices.Contains(rs, s) {
				c.fail(path, "enum symbol %v removed (and the new enum has no default)", s)
			}
		}
	case "fixed":
		if fmt.Sprint(wm["size"]) != fmt.Sprint(rm["size"]) || !sameName(wm, rm, wns2, rns2) {
			c.fail(path, "fixed changed")
		}
	case "array":
		c.check(path+"[]", wm["items"], rm["items"], wns2, rns2)
	case "map":
		c.check(path+"{}", wm["values"], rm["values"], wns2, rns2)
	}
}

func sameName(w, r map[string]any, wns, rns string) bool {
	wn, _ := w["name"].(string)
	rn, _ := r["name"].(string)
	if wn == rn || fullName(wn, wns) == fullName(rn, rns) {
		return true
	}
	for _, a := range asSlice(r["aliases"]) {
		if s, _ := a.(string); s == wn || fullName(s, rns) == fullName(wn, wns) {
			return true
		}
	}
	return false
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
