package engine

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Problem is one mistake in a rules text: the line it is on (1-based; 0
// when unknown), the key it concerns (a path such as rules[2].amount.fee)
// and what is wrong.
type Problem struct {
	Line int    `json:"line"`
	Key  string `json:"key,omitempty"`
	Msg  string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		b.WriteString("line " + strconv.Itoa(p.Line) + ": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

var (
	yamlLine   = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownKey = regexp.MustCompile(`^field (\S+) not found in type engine\.(\w+)$`)
	where      = regexp.MustCompile(`^(rules|extractors)\[(\d+)\](?: \([^)]*\))?: (.*)$`)
	keyPath    = regexp.MustCompile(`^([a-z_]+(?:\.[a-z_]+)*)\b`)
)

// Check parses and validates a rules text as ParseConfig does and returns
// every problem with its line and key (nil: none).
func Check(text []byte) []Problem {
	_, err := ParseConfig(text, "proposal")
	if err == nil {
		return nil
	}
	var root yaml.Node
	_ = yaml.Unmarshal(text, &root)
	var out []Problem
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			out = append(out, fromYAML(e, &root))
		}
		return out
	}
	msg := strings.TrimSpace(strings.TrimPrefix(err.Error(), "rules proposal:"))
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if m := yamlLine.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			out = append(out, Problem{Line: n, Msg: m[2]})
			continue
		}
		out = append(out, fromValidate(line, &root))
	}
	return out
}

// fromYAML is a decoding error ("line 3: field referense not found in
// type engine.Rule") as a problem.
func fromYAML(e string, root *yaml.Node) Problem {
	m := yamlLine.FindStringSubmatch(e)
	if m == nil {
		return Problem{Msg: e}
	}
	n, _ := strconv.Atoi(m[1])
	p := Problem{Line: n, Msg: m[2], Key: keyAt(root, n)}
	if u := unknownKey.FindStringSubmatch(m[2]); u != nil {
		p.Msg = "unknown key " + u[1] + " (internal/engine/rules.go lists the keys)"
	}
	return p
}

// fromValidate is a validation error ("rules[1] (b): amount.percent "abc":
// want ...") as a problem on the line of its key.
func fromValidate(e string, root *yaml.Node) Problem {
	m := where.FindStringSubmatch(e)
	if m == nil {
		key, _, _ := strings.Cut(e, ":")
		return Problem{Line: lineOf(root, strings.Fields(key)...), Key: strings.TrimSpace(key), Msg: e}
	}
	i, _ := strconv.Atoi(m[2])
	p := Problem{Key: m[1] + "[" + m[2] + "]", Msg: m[3]}
	item := seqItem(root, m[1], i)
	if item != nil {
		p.Line = item.Line
	}
	if k := keyPath.FindString(m[3]); k != "" && item != nil {
		if n := find(item, strings.Split(k, ".")...); n != nil {
			p.Line, p.Key = n.Line, p.Key+"."+k
		}
	}
	return p
}

// doc is the document's top mapping.
func doc(root *yaml.Node) *yaml.Node {
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		return root.Content[0]
	}
	return root
}

// find returns the key node of path under the mapping n (nil: absent).
func find(n *yaml.Node, path ...string) *yaml.Node {
	var key *yaml.Node
	for _, p := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == p {
				key, next = n.Content[j], n.Content[j+1]
				break
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return key
}

func lineOf(root *yaml.Node, path ...string) int {
	if n := find(doc(root), path...); n != nil {
		return n.Line
	}
	return 0
}

// seqItem is item i of the top-level sequence name.
func seqItem(root *yaml.Node, name string, i int) *yaml.Node {
	d := doc(root)
	for j := 0; d != nil && d.Kind == yaml.MappingNode && j+1 < len(d.Content); j += 2 {
		if d.Content[j].Value == name {
			if s := d.Content[j+1]; s.Kind == yaml.SequenceNode && i < len(s.Content) {
				return s.Content[i]
			}
		}
	}
	return nil
}

// keyAt is the path of the key on line n ("rules[0].referense"; "" when
// no key starts there).
func keyAt(root *yaml.Node, n int) string {
	var walk func(node *yaml.Node, path string) string
	walk = func(node *yaml.Node, path string) string {
		switch node.Kind {
		case yaml.DocumentNode:
			for _, c := range node.Content {
				if k := walk(c, path); k != "" {
					return k
				}
			}
		case yaml.MappingNode:
			for j := 0; j+1 < len(node.Content); j += 2 {
				p := node.Content[j].Value
				if path != "" {
					p = path + "." + p
				}
				if node.Content[j].Line == n {
					return p
				}
				if k := walk(node.Content[j+1], p); k != "" {
					return k
				}
			}
		case yaml.SequenceNode:
			for i, c := range node.Content {
				if k := walk(c, path+"["+strconv.Itoa(i)+"]"); k != "" {
					return k
				}
			}
		}
		return ""
	}
	return walk(root, "")
}
