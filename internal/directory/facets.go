package directory

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds on a FacetRequest.
const (
	// MaxFacetBuckets is how many bucketsDays a LastSignIn facet may have.
	MaxFacetBuckets = 10
	// MaxFacetBucketDays is the largest bucket bound, in days.
	MaxFacetBucketDays = 3650
	// MaxFacetLimit is the largest limit of a metadata facet.
	MaxFacetLimit = 100
	// DefaultFacetLimit is the limit of a metadata facet that gives none.
	DefaultFacetLimit = 20
)

// DefaultBucketsDays are the LastSignIn buckets when a request gives none.
var DefaultBucketsDays = []int{7, 30, 90}

// FacetRequest says which facets to count. Unrequested facets cost nothing.
type FacetRequest struct {
	// Roles asks for the count of each organization role.
	Roles bool
	// SignInStatus asks for the counts of SIGNED_IN and NEVER_SIGNED_IN.
	SignInStatus bool
	// LastSignIn asks for sign-in recency buckets bounded by BucketsDays
	// (nil means DefaultBucketsDays): ascending, distinct, each
	// 1..MaxFacetBucketDays, at most MaxFacetBuckets.
	LastSignIn  bool
	BucketsDays []int
	// Metadata asks for one metadata facet per element.
	Metadata []MetadataFacetRequest
}

// MetadataFacetRequest asks for the values found at one metadata path.
type MetadataFacetRequest struct {
	// Path is dot-separated, as in MetadataCondition.
	Path string
	// Source is USER ("" too) or MEMBERSHIP.
	Source MetadataSource
	// Limit is how many values to list, 1..MaxFacetLimit (the GraphQL
	// default is DefaultFacetLimit); the counts of the values beyond it are
	// added to OtherCount.
	Limit int
}

// FacetCount is one value of a facet and how many members have it.
type FacetCount struct {
	Value string
	Count int
}

// MetadataFacetValue is one JSON value found at a metadata path and how
// many members have it.
type MetadataFacetValue struct {
	// Value is the value as JSON text; numbers in their shortest exact form
	// (7.0 and 7 are both 7).
	Value json.RawMessage
	Count int
}

// MetadataFacet counts the values found at one metadata path.
type MetadataFacet struct {
	Path string
	// Values are the scalar values, by count descending, then JSON text.
	Values []MetadataFacetValue
	// OtherCount counts objects (and distinct object or array elements of
	// arrays) and the counts of values beyond the request's limit.
	OtherCount int
	// MissingCount counts members without the path.
	MissingCount int
}

// Facets are the counts a FacetRequest asked for; unrequested ones are nil.
type Facets struct {
	// Roles: every role present, by count descending, then role key.
	Roles []FacetCount
	// SignInStatus: SIGNED_IN, then NEVER_SIGNED_IN, even when 0.
	SignInStatus []FacetCount
	// LastSignIn: "<=N" for each bucket bound, ">N" beyond the last, "never".
	LastSignIn []FacetCount
	// Metadata: one per MetadataFacetRequest, in order.
	Metadata []MetadataFacet
}

// ValidateBucketsDays checks LastSignIn bucket bounds (nil is valid: the defaults).
// Errors: BAD_USER_INPUT naming bucketsDays.
func ValidateBucketsDays(days []int) error {
	if days == nil {
		return nil
	}
	if len(days) == 0 || len(days) > MaxFacetBuckets {
		return badInput("bucketsDays", "give 1 to %d bounds", MaxFacetBuckets)
	}
	for i, d := range days {
		if d < 1 || d > MaxFacetBucketDays {
			return badInput("bucketsDays", "%d is not in 1..%d", d, MaxFacetBucketDays)
		}
		if i > 0 && d <= days[i-1] {
			return badInput("bucketsDays", "must be ascending and distinct")
		}
	}
	return nil
}

// Validate checks a metadata facet request: path as for metadata filters,
// a known source, limit 1..MaxFacetLimit.
// Errors: BAD_USER_INPUT naming path, source or limit.
func (r MetadataFacetRequest) Validate() error {
	_, _, err := r.compile()
	return err
}

func (r MetadataFacetRequest) compile() (root uint32, path []string, err error) {
	switch r.Source {
	case "", MetadataUser:
		root = rootUser
	case MetadataMembership:
		root = rootMembership
	default:
		return 0, nil, badInput("source", "unknown value %q", string(r.Source))
	}
	if r.Path == "" {
		return 0, nil, badInput("path", "empty path")
	}
	path = strings.Split(r.Path, ".")
	if slices.Contains(path, "") {
		return 0, nil, badInput("path", "empty path segment")
	}
	if r.Limit < 1 || r.Limit > MaxFacetLimit {
		return 0, nil, badInput("limit", "must be between 1 and %d", MaxFacetLimit)
	}
	return root, path, nil
}

// Facets counts req's facets over every member of s matching f, in one
// pass. now is the moment LastSignIn buckets are measured from.
// Errors: BAD_USER_INPUT for an invalid filter or request.
func (s *Snapshot) Facets(f *Filter, req FacetRequest, now time.Time) (*Facets, error) {
	b, err := compileFilter(f)
	if err != nil {
		return nil, err
	}
	p := &Page{Snapshot: s, matchAll: true}
	if b != nil {
		if match := b(s); match != nil {
			p.matchAll = false
			p.matched = make([]uint64, (len(s.entries)+63)/64)
			for i := range s.entries {
				if match(&s.entries[i]) {
					p.matched[i/64] |= 1 << (i % 64)
				}
			}
		}
	}
	return p.Facets(req, now)
}

// Facets counts req's facets over every member matching the page's filter,
// on all pages (the members TotalCount counts), in one pass. now is the
// moment LastSignIn buckets are measured from. Only pages from Service.List,
// Service.All, Snapshot.Query and Snapshot.All have facets.
// Errors: BAD_USER_INPUT for an invalid request; INTERNAL_SERVER_ERROR for
// a page built otherwise.
func (p *Page) Facets(req FacetRequest, now time.Time) (*Facets, error) {
	s := p.Snapshot
	if s == nil || (!p.matchAll && p.matched == nil) {
		return nil, Errorf(CodeInternal, "internal error")
	}
	days := req.BucketsDays
	if days == nil {
		days = DefaultBucketsDays
	}
	if req.LastSignIn {
		if err := ValidateBucketsDays(days); err != nil {
			return nil, err
		}
	}
	metas := make([]metaCounter, len(req.Metadata))
	for i, r := range req.Metadata {
		root, path, err := r.compile()
		if err != nil {
			return nil, err
		}
		metas[i] = metaCounter{req: r}
		if pid, ok := s.meta.lookupPath(root, path); ok {
			metas[i].pid, metas[i].found = pid, true
			metas[i].counts = make([]int32, len(s.meta.values))
		}
	}

	var (
		roles     []FacetCount
		signedIn  int
		bounds    = make([]tkey, len(days))
		buckets   = make([]int, len(days)+2) // bounds, beyond, never
		total     int
		wantRoles = req.Roles
		wantTime  = req.LastSignIn || req.SignInStatus
	)
	for i, d := range days {
		bounds[i] = timeKey(now.Add(-time.Duration(d) * 24 * time.Hour))
	}
	visit := func(i int) {
		e := &s.entries[i]
		total++
		if wantRoles {
			role := e.m.Role
			k := 0
			for k < len(roles) && roles[k].Value != role {
				k++
			}
			if k == len(roles) {
				roles = append(roles, FacetCount{Value: role})
			}
			roles[k].Count++
		}
		if wantTime {
			if e.flags&hasLastSignIn == 0 {
				buckets[len(days)+1]++
			} else {
				signedIn++
				k := 0
				for k < len(bounds) && e.lastSignIn.cmp(bounds[k]) < 0 {
					k++
				}
				buckets[k]++
			}
		}
		for j := range metas {
			mc := &metas[j]
			if !mc.found {
				continue
			}
			if v, ok := value(s.meta.fields[e.metaOff:e.metaOff+e.metaLen], mc.pid); ok {
				mc.counts[v]++
			} else {
				mc.missing++
			}
		}
	}
	if p.matchAll {
		for i := range s.entries {
			visit(i)
		}
	} else {
		for w, word := range p.matched {
			for word != 0 {
				visit(w*64 + bits.TrailingZeros64(word))
				word &= word - 1
			}
		}
	}

	out := &Facets{}
	if req.Roles {
		slices.SortFunc(roles, func(a, b FacetCount) int {
			if c := cmp.Compare(b.Count, a.Count); c != 0 {
				return c
			}
			return strings.Compare(a.Value, b.Value)
		})
		out.Roles = roles
		if out.Roles == nil {
			out.Roles = []FacetCount{}
		}
	}
	if req.SignInStatus {
		out.SignInStatus = []FacetCount{{string(SignedIn), signedIn}, {string(NeverSignedIn), total - signedIn}}
	}
	if req.LastSignIn {
		out.LastSignIn = make([]FacetCount, 0, len(buckets))
		for i, d := range days {
			out.LastSignIn = append(out.LastSignIn, FacetCount{"<=" + strconv.Itoa(d), buckets[i]})
		}
		out.LastSignIn = append(out.LastSignIn,
			FacetCount{">" + strconv.Itoa(days[len(days)-1]), buckets[len(days)]},
			FacetCount{"never", buckets[len(days)+1]})
	}
	if len(metas) > 0 {
		out.Metadata = make([]MetadataFacet, len(metas))
		for i := range metas {
			out.Metadata[i] = metas[i].result(s.meta, total)
		}
	}
	return out, nil
}

// metaCounter counts, for one metadata facet, the members having each
// value id at the path; the values are expanded (arrays into elements)
// once, at the end.
type metaCounter struct {
	req     MetadataFacetRequest
	pid     uint32
	found   bool
	counts  []int32 // by value id
	missing int
}

func (mc *metaCounter) result(ms *metaStore, total int) MetadataFacet {
	f := MetadataFacet{Path: mc.req.Path, Values: []MetadataFacetValue{}}
	if !mc.found {
		f.MissingCount = total
		return f
	}
	f.MissingCount = mc.missing
	scalar := map[uint32]int{}
	var distinct []uint32
	for _, id := range ms.pathValues[mc.pid] {
		n := int(mc.counts[id])
		if n == 0 {
			continue
		}
		v := &ms.values[id]
		switch v.kind {
		case '{':
			f.OtherCount += n
		case '[':
			distinct = distinct[:0]
			for _, el := range v.elems {
				if !slices.Contains(distinct, el) {
					distinct = append(distinct, el)
				}
			}
			for _, el := range distinct {
				if k := ms.values[el].kind; k == '{' || k == '[' {
					f.OtherCount += n
				} else {
					scalar[el] += n
				}
			}
		default:
			scalar[id] += n
		}
	}
	vals := make([]MetadataFacetValue, 0, len(scalar))
	for id, n := range scalar {
		vals = append(vals, MetadataFacetValue{Value: scalarJSON(&ms.values[id]), Count: n})
	}
	slices.SortFunc(vals, func(a, b MetadataFacetValue) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return bytes.Compare(a.Value, b.Value)
	})
	if limit := mc.req.Limit; len(vals) > limit {
		for _, v := range vals[limit:] {
			f.OtherCount += v.Count
		}
		vals = vals[:limit:limit]
	}
	f.Values = vals
	return f
}

// scalarJSON returns the JSON text of an interned scalar.
func scalarJSON(v *metaValue) json.RawMessage {
	switch v.kind {
	case 's':
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v.str) // a string always encodes
		return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	case '#':
		return json.RawMessage(numberJSON(v.str))
	case 't':
		return json.RawMessage("true")
	case 'f':
		return json.RawMessage("false")
	}
	return json.RawMessage("null")
}

// numberJSON writes a canonical number (see canonicalNumber) as a JSON
// number: plain decimal when it has at most 21 digits before or 6 zeros
// after the point, else in exponent form.
func numberJSON(canon string) string {
	if lit, ok := strings.CutPrefix(canon, "literal:"); ok {
		return lit
	}
	if canon == "0" {
		return "0"
	}
	sign := ""
	if canon[0] == '-' {
		sign, canon = "-", canon[1:]
	}
	digits, expText, _ := strings.Cut(canon, "e")
	exp, err := strconv.ParseInt(expText, 10, 64)
	if err != nil {
		return sign + canon
	}
	n := int64(len(digits))
	switch {
	case exp >= 0 && n+exp <= 21:
		return sign + digits + strings.Repeat("0", int(exp))
	case exp < 0 && -exp < n:
		return sign + digits[:n+exp] + "." + digits[n+exp:]
	case exp < 0 && -exp-n <= 6:
		return sign + "0." + strings.Repeat("0", int(-exp-n)) + digits
	}
	mant := digits[:1]
	if n > 1 {
		mant += "." + digits[1:]
	}
	return fmt.Sprintf("%s%se%d", sign, mant, exp+n-1)
}
