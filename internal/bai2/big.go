package bai2

import (
	"fmt"
	mathbig "math/big"
	"strings"
)

// big is an arbitrary-size integer for control totals: a file total of
// minor units can exceed int64.
type big struct{ v *mathbig.Int }

func newBig() *big { return &big{v: new(mathbig.Int)} }

func parseBig(s string) (*big, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "+")
	v, ok := new(mathbig.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("not a number")
	}
	return &big{v: v}, nil
}

func (b *big) add(o *big)     { b.v.Add(b.v, o.v) }
func (b *big) cmp(o *big) int { return b.v.Cmp(o.v) }
func (b *big) String() string { return b.v.String() }
