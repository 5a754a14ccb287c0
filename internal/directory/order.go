package directory

import (
	"strings"
	"time"
)

// Validate reports whether o names a known field and direction. An empty
// Field means EMAIL and an empty Direction means ASC, so the zero Order is
// valid. Any caller may use it; List and All call it.
// Errors: BAD_USER_INPUT naming orderBy.field or orderBy.direction.
func (o Order) Validate() error {
	_, err := o.resolve()
	return err
}

// fieldID numbers the OrderFields; the numbering is part of the cursor format.
type fieldID uint8

const (
	fieldEmail fieldID = iota
	fieldFirstName
	fieldLastName
	fieldCreatedAt
	fieldLastSignInAt
	fieldJoinedAt
	numFields
)

// numOrders is the number of distinct orderings: every field in both directions.
const numOrders = int(numFields) * 2

var fieldIDs = map[OrderField]fieldID{
	"":                fieldEmail,
	OrderEmail:        fieldEmail,
	OrderFirstName:    fieldFirstName,
	OrderLastName:     fieldLastName,
	OrderCreatedAt:    fieldCreatedAt,
	OrderLastSignInAt: fieldLastSignInAt,
	OrderJoinedAt:     fieldJoinedAt,
}

func (f fieldID) isText() bool { return f <= fieldLastName }

// order is a resolved Order.
type order struct {
	field fieldID
	desc  bool
}

func (o Order) resolve() (order, error) {
	f, ok := fieldIDs[o.Field]
	if !ok {
		return order{}, Errorf(CodeBadUserInput, "orderBy.field: unknown value %q", string(o.Field))
	}
	var desc bool
	switch o.Direction {
	case "", Asc:
	case Desc:
		desc = true
	default:
		return order{}, Errorf(CodeBadUserInput, "orderBy.direction: unknown value %q", string(o.Direction))
	}
	return order{field: f, desc: desc}, nil
}

// code numbers the orderings 0..numOrders-1.
func (o order) code() uint8 {
	c := uint8(o.field) * 2
	if o.desc {
		c++
	}
	return c
}

func orderFromCode(c uint8) (order, bool) {
	if int(c) >= numOrders {
		return order{}, false
	}
	return order{field: fieldID(c / 2), desc: c%2 == 1}, true
}

// tkey is a time as a sort key: wall-clock seconds and nanoseconds, so that
// monotonic clock readings and locations never affect the order.
type tkey struct {
	sec  int64
	nsec int32
}

func timeKey(t time.Time) tkey { return tkey{sec: t.Unix(), nsec: int32(t.Nanosecond())} }

func (a tkey) cmp(b tkey) int {
	switch {
	case a.sec < b.sec:
		return -1
	case a.sec > b.sec:
		return 1
	case a.nsec < b.nsec:
		return -1
	case a.nsec > b.nsec:
		return 1
	}
	return 0
}

// sortKey is a member's position in one ordering: its key (text or time, or
// null) and its user id, which breaks ties. Cursors carry a sortKey.
type sortKey struct {
	null bool
	text string // lowercased, for text fields
	time tkey   // for time fields
	id   string
}

// key returns e's sort key in ordering o.
func (o order) key(e *entry) sortKey {
	k := sortKey{id: e.m.UserID}
	switch o.field {
	case fieldEmail:
		k.text, k.null = e.email(), e.flags&hasEmail == 0
	case fieldFirstName:
		k.text, k.null = e.first(), e.flags&hasFirstName == 0
	case fieldLastName:
		k.text, k.null = e.last(), e.flags&hasLastName == 0
	case fieldCreatedAt:
		k.time = e.created
	case fieldLastSignInAt:
		k.time, k.null = e.lastSignIn, e.flags&hasLastSignIn == 0
	case fieldJoinedAt:
		k.time = e.joined
	}
	return k
}

// compare orders two sort keys: non-null keys first, in the direction of o;
// then null keys; ties by user id ascending in both directions.
func (o order) compare(a, b *sortKey) int {
	if a.null != b.null {
		if a.null {
			return 1
		}
		return -1
	}
	if !a.null {
		var c int
		if o.field.isText() {
			c = strings.Compare(a.text, b.text)
		} else {
			c = a.time.cmp(b.time)
		}
		if c != 0 {
			if o.desc {
				return -c
			}
			return c
		}
	}
	return strings.Compare(a.id, b.id)
}
