package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/orgusers/orgusers/graph/model"
	"github.com/orgusers/orgusers/graph/scalar"
	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/bytelru"
	"github.com/orgusers/orgusers/internal/directory"
)

// The fast path answers the common read operations, orgUsers and orgUser
// with any selection of their fields, without gqlgen's executor: it writes
// the answer's JSON straight from the snapshot, with each member's field
// values encoded once per snapshot version (memberJSON), so an answer costs
// a copy per field instead of a resolver call, a goroutine per list element,
// a marshaler per value and the final json.Marshal compacting it all again.
//
// It is exact or nothing: it gives the complete successful answer, byte for
// byte what gqlgen's executor and the transport's json.Marshal would give
// (TestFastPathMatchesExecutor compares the two), or declines, and then the
// generic path runs the operation from the start. It declines every
// operation it does not support (see compile) and, at run time, on any
// error at all (a failed @hasOrgRole, an argument the directory refuses,
// a member whose JSON cannot be encoded, a panic): error answers are always
// the executor's own.
//
// It reuses the executor's pieces wherever the bytes or the question could
// differ: graphql.CollectFields (fragments, aliases, @skip/@include, field
// merging), the generated argument decoders (defaults, variables, input
// coercion), the resolvers' helpers (listOrgUsers, getOrgUser, facets,
// facetRoles, ...), gqlgen's marshalers for every scalar, and
// encoding/json's compaction (HTML escaping included) for every value
// that is not plain ASCII.
type fastPath struct {
	es    *executableSchema
	r     *Resolver
	plans *bytelru.Cache[planKey, *fpPlan]
	// answered and declined count the operations the fast path answered
	// and those of a supported shape it handed to the executor.
	answered, declined atomic.Int64
}

// fastPlanBytes bounds the compiled plans kept.
const fastPlanBytes = 4 << 20

func newFastPath(es graphql.ExecutableSchema, r *Resolver) *fastPath {
	x, ok := es.(*executableSchema)
	if !ok {
		return nil
	}
	return &fastPath{es: x, r: r, plans: bytelru.New[planKey, *fpPlan](fastPlanBytes)}
}

// planKey names one operation of one prepared document. The document
// pointer is the query cache's: while a plan holds it, no other document
// can have its address.
type planKey struct {
	doc *ast.QueryDocument
	op  string
}

// fpPlan is what compile learned about an operation, once per document and
// operation name.
type fpPlan struct {
	ok bool // the fast path answers the operation
	// static: no @skip/@include reads a variable, so root (built by the
	// first request) holds for every request.
	static   bool
	root     atomic.Pointer[[]fpField]
	sizeHint atomic.Int64 // the last answer's length, to size the next
}

// fpKind says how a collected field is written.
type fpKind uint8

const (
	fkTypename fpKind = iota
	fkOrgUsers
	fkOrgUser
	fkNodes
	fkEdges
	fkPageInfo
	fkTotalCount
	fkFacets
	fkEdgeCursor
	fkEdgeNode
	fkHasNextPage
	fkEndCursor
	fkHasPreviousPage
	fkStartCursor
	fkRoles
	fkSignInStatus
	fkLastSignIn
	fkMetadata
	fkValue
	fkCount
	fkPath
	fkValues
	fkOtherCount
	fkMissingCount
)

// fpField is one collected field of a selection, ready to write.
type fpField struct {
	prefix   []byte // `"key":`, after a comma unless first
	kind     fpKind
	typename string // for fkTypename
	cf       graphql.CollectedField
	children []fpField // object fields but OrgUser
	member   fpMemberSel
}

// fpMemberSel is an OrgUser selection: its fields, and a bit for each
// memberFields index it reads.
type fpMemberSel struct {
	fields []fpMemberField
	mask   uint16
}

// fpMemberField is one field of an OrgUser selection: its prefix and the
// index of its encoded value in memberJSON (-1: __typename).
type fpMemberField struct {
	prefix []byte
	index  int
}

// The OrgUser fields an encodedMember holds, in its order.
var memberFields = [...]string{"id", "email", "firstName", "lastName", "username", "imageUrl", "lastSignInAt",
	"publicMetadata", "createdAt", "role", "roleName", "membershipMetadata", "joinedAt", "lastActiveAt", "banned"}

var memberFieldIndex = func() map[string]int {
	m := make(map[string]int, len(memberFields))
	for i, f := range memberFields {
		m[f] = i
	}
	return m
}()

// objectFields lists, for each object type the fast path writes, its
// fields and how each is written; a field not listed declines the
// operation.
var objectFields = map[string]map[string]fpKind{
	"Query":              {"orgUsers": fkOrgUsers, "orgUser": fkOrgUser},
	"OrgUserConnection":  {"nodes": fkNodes, "edges": fkEdges, "pageInfo": fkPageInfo, "totalCount": fkTotalCount, "facets": fkFacets},
	"OrgUserEdge":        {"cursor": fkEdgeCursor, "node": fkEdgeNode},
	"PageInfo":           {"hasNextPage": fkHasNextPage, "endCursor": fkEndCursor, "hasPreviousPage": fkHasPreviousPage, "startCursor": fkStartCursor},
	"OrgUserFacets":      {"roles": fkRoles, "signInStatus": fkSignInStatus, "lastSignIn": fkLastSignIn, "metadata": fkMetadata},
	"FacetCount":         {"value": fkValue, "count": fkCount},
	"MetadataFacet":      {"path": fkPath, "values": fkValues, "otherCount": fkOtherCount, "missingCount": fkMissingCount},
	"MetadataFacetValue": {"value": fkValue, "count": fkCount},
	"OrgUser":            {}, // memberFields
}

// implementors are the types each object type satisfies, as the generated
// executor collects their fields (OrgUser is also a Node).
var implementors = map[string][]string{
	"Query":              queryImplementors,
	"OrgUserConnection":  orgUserConnectionImplementors,
	"OrgUserEdge":        orgUserEdgeImplementors,
	"PageInfo":           pageInfoImplementors,
	"OrgUserFacets":      orgUserFacetsImplementors,
	"FacetCount":         facetCountImplementors,
	"MetadataFacet":      metadataFacetImplementors,
	"MetadataFacetValue": metadataFacetValueImplementors,
	"OrgUser":            orgUserImplementors,
}

func init() {
	for _, f := range memberFields {
		objectFields["OrgUser"][f] = fkTypename // unused: OrgUser selections are written from memberJSON
	}
}

// plan returns the compiled plan of the operation, compiling it once.
func (fp *fastPath) plan(doc *ast.QueryDocument, op *ast.OperationDefinition) *fpPlan {
	key := planKey{doc, op.Name}
	if p, ok := fp.plans.Get(key); ok {
		return p
	}
	p := &fpPlan{}
	c := compiler{doc: doc, static: true}
	p.ok = op.Operation == ast.Query && len(op.Directives) == 0 && c.selections(op.SelectionSet, "Query", 0)
	p.static = c.static
	// The plan keeps the document alive: count it as the query cache does.
	fp.plans.Add(key, p, 1024+4*bytesPerToken*c.fields)
	return p
}

// compiler checks that an operation has only what the fast path writes.
type compiler struct {
	doc    *ast.QueryDocument
	static bool
	fields int
}

func (c *compiler) selections(set ast.SelectionSet, typ string, depth int) bool {
	if depth > 64 { // fragments nest no deeper than the limits allow; be safe
		return false
	}
	known, ok := objectFields[typ]
	if !ok {
		return false
	}
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			c.fields++
			if !c.directives(sel.Directives) {
				return false
			}
			if sel.Name == "__typename" {
				continue
			}
			if _, ok := known[sel.Name]; !ok || sel.Definition == nil || sel.ObjectDefinition == nil || !slices.Contains(implementors[typ], sel.ObjectDefinition.Name) {
				return false
			}
			if len(sel.SelectionSet) > 0 && !c.selections(sel.SelectionSet, sel.Definition.Type.Name(), depth+1) {
				return false
			}
		case *ast.InlineFragment:
			if !c.directives(sel.Directives) || (sel.TypeCondition != "" && !slices.Contains(implementors[typ], sel.TypeCondition)) {
				return false
			}
			if !c.selections(sel.SelectionSet, typ, depth+1) {
				return false
			}
		case *ast.FragmentSpread:
			f := c.doc.Fragments.ForName(sel.Name)
			if f == nil || !c.directives(sel.Directives) || len(f.Directives) > 0 || !slices.Contains(implementors[typ], f.TypeCondition) {
				return false
			}
			if !c.selections(f.SelectionSet, typ, depth+1) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// directives accepts @skip and @include; a variable in either makes the
// selection depend on the request.
func (c *compiler) directives(ds ast.DirectiveList) bool {
	for _, d := range ds {
		if d.Name != "skip" && d.Name != "include" {
			return false
		}
		for _, a := range d.Arguments {
			if a.Value == nil || a.Value.Kind != ast.BooleanValue {
				c.static = false
			}
		}
	}
	return true
}

// build collects the fields of a selection as the executor does.
func build(opCtx *graphql.OperationContext, set ast.SelectionSet, typ string) ([]fpField, bool) {
	collected := graphql.CollectFields(opCtx, set, implementors[typ])
	out := make([]fpField, 0, len(collected))
	seen := make(map[string]bool, len(collected))
	for _, cf := range collected {
		if seen[cf.Alias] {
			continue // as marshalFieldSet: one value per key
		}
		seen[cf.Alias] = true
		f := fpField{prefix: keyPrefix(cf.Alias, len(out) == 0), cf: cf}
		if cf.Name == "__typename" {
			f.kind, f.typename = fkTypename, typ
			out = append(out, f)
			continue
		}
		kind, ok := objectFields[typ][cf.Name]
		if !ok || cf.Definition == nil {
			return nil, false
		}
		f.kind = kind
		if child := cf.Definition.Type.Name(); child == "OrgUser" {
			fields := graphql.CollectFields(opCtx, cf.Selections, orgUserImplementors)
			mseen := make(map[string]bool, len(fields))
			for _, mf := range fields {
				if mseen[mf.Alias] {
					continue
				}
				mseen[mf.Alias] = true
				idx := -1
				if mf.Name != "__typename" {
					if idx, ok = memberFieldIndex[mf.Name]; !ok {
						return nil, false
					}
				}
				f.member.fields = append(f.member.fields, fpMemberField{prefix: keyPrefix(mf.Alias, len(f.member.fields) == 0), index: idx})
				if idx >= 0 {
					f.member.mask |= 1 << idx
				}
			}
		} else if len(cf.Selections) > 0 {
			if f.children, ok = build(opCtx, cf.Selections, child); !ok {
				return nil, false
			}
		}
		out = append(out, f)
	}
	return out, true
}

func keyPrefix(alias string, first bool) []byte {
	var b []byte
	if !first {
		b = append(b, ',')
	}
	b, _ = appendString(b, alias)
	return append(b, ':')
}

// fpRun is one request's fast execution.
type fpRun struct {
	fp    *fastPath
	ctx   context.Context // with the operation context
	opCtx *graphql.OperationContext
	ec    *executionContext
	snaps []*directory.Snapshot
	usage *usage // scratch: what the facet resolvers noted
	buf   []byte
}

// answer returns the operation's complete answer, or false to have the
// executor run it. On success it records what the answer read (snapshots,
// volatility) in ctx's usage, as the resolvers would have.
func (fp *fastPath) answer(ctx context.Context, opCtx *graphql.OperationContext) (body []byte, ok bool) {
	if fp == nil || opCtx == nil || opCtx.Operation == nil || opCtx.Doc == nil {
		return nil, false
	}
	p := fp.plan(opCtx.Doc, opCtx.Operation)
	if !p.ok {
		return nil, false
	}
	defer func() {
		if v := recover(); v != nil {
			body, ok = nil, false // the executor answers it, and reports any panic itself
		}
		if ok {
			fp.answered.Add(1)
		} else {
			fp.declined.Add(1)
		}
	}()
	var root []fpField
	if rp := p.root.Load(); p.static && rp != nil {
		root = *rp
	} else {
		if root, ok = build(opCtx, opCtx.Operation.SelectionSet, "Query"); !ok {
			return nil, false
		}
		if p.static {
			p.root.Store(&root)
		}
	}
	run := &fpRun{fp: fp, opCtx: opCtx, usage: &usage{}}
	run.ctx = context.WithValue(graphql.WithOperationContext(ctx, opCtx), usageKey{}, run.usage)
	run.ec = newExecutionContext(opCtx, fp.es, nil)
	run.buf = answerBuffer(int(p.sizeHint.Load()))
	run.buf = append(run.buf, `{"data":{`...)
	for i := range root {
		if !run.rootField(&root[i]) {
			return nil, false
		}
	}
	run.buf = append(run.buf, "}}"...)
	for _, s := range run.snaps {
		recordSnapshot(ctx, s)
	}
	if run.usage.volatile {
		noStore(ctx)
	}
	p.sizeHint.Store(int64(len(run.buf)))
	return run.buf, true
}

func (r *fpRun) rootField(f *fpField) bool {
	r.buf = append(r.buf, f.prefix...)
	switch f.kind {
	case fkTypename:
		r.buf = append(r.buf, `"Query"`...)
		return true
	case fkOrgUsers:
		if _, err := auth.RequireOrgRole(r.ctx, "org:admin"); err != nil {
			return false
		}
		args, err := r.ec.field_Query_orgUsers_args(r.ctx, f.cf.ArgumentMap(r.opCtx.Variables))
		if err != nil {
			return false
		}
		filter, _ := args["filter"].(*model.OrgUserFilter)
		orderBy, _ := args["orderBy"].(*model.OrgUserOrder)
		first, _ := args["first"].(*int)
		after, _ := args["after"].(*string)
		last, _ := args["last"].(*int)
		before, _ := args["before"].(*string)
		page, err := r.fp.r.listOrgUsers(r.ctx, filter, orderBy, first, after, last, before, firstGivenIn(f.cf.Field, r.opCtx.Variables))
		if err != nil || page == nil {
			return false
		}
		r.snaps = append(r.snaps, page.Snapshot)
		return r.connection(f, page)
	case fkOrgUser:
		if _, err := auth.RequireOrgRole(r.ctx, "org:admin"); err != nil {
			return false
		}
		args, err := r.ec.field_Query_orgUser_args(r.ctx, f.cf.ArgumentMap(r.opCtx.Variables))
		if err != nil {
			return false
		}
		id, ok := args["id"].(string)
		if !ok {
			return false
		}
		m, snap, err := r.fp.r.getOrgUser(r.ctx, id)
		if err != nil {
			return false
		}
		r.snaps = append(r.snaps, snap)
		if m == nil {
			r.buf = append(r.buf, "null"...)
			return true
		}
		return r.member(f.member, snap, m)
	}
	return false
}

// object writes a selection of an object whose fields write themselves.
func (r *fpRun) object(fields []fpField, write func(*fpField) bool) bool {
	r.buf = append(r.buf, '{')
	for i := range fields {
		f := &fields[i]
		r.buf = append(r.buf, f.prefix...)
		if f.kind == fkTypename {
			r.buf = append(r.buf, '"')
			r.buf = append(r.buf, f.typename...)
			r.buf = append(r.buf, '"')
			continue
		}
		if !write(f) {
			return false
		}
	}
	r.buf = append(r.buf, '}')
	return true
}

func (r *fpRun) connection(f *fpField, page *directory.Page) bool {
	return r.object(f.children, func(c *fpField) bool {
		switch c.kind {
		case fkNodes:
			r.buf = append(r.buf, '[')
			for i, m := range page.Members {
				if i > 0 {
					r.buf = append(r.buf, ',')
				}
				if !r.member(c.member, page.Snapshot, m) {
					return false
				}
			}
			r.buf = append(r.buf, ']')
		case fkEdges:
			r.buf = append(r.buf, '[')
			for i, m := range page.Members {
				if i > 0 {
					r.buf = append(r.buf, ',')
				}
				ok := r.object(c.children, func(e *fpField) bool {
					switch e.kind {
					case fkEdgeCursor:
						return r.str(page.Cursors[i])
					case fkEdgeNode:
						return r.member(e.member, page.Snapshot, m)
					}
					return false
				})
				if !ok {
					return false
				}
			}
			r.buf = append(r.buf, ']')
		case fkPageInfo:
			n := len(page.Cursors)
			return r.object(c.children, func(p *fpField) bool {
				switch p.kind {
				case fkHasNextPage:
					r.buf = strconv.AppendBool(r.buf, page.HasNextPage)
				case fkHasPreviousPage:
					r.buf = strconv.AppendBool(r.buf, page.HasPreviousPage)
				case fkEndCursor, fkStartCursor:
					if n == 0 {
						r.buf = append(r.buf, "null"...)
						return true
					}
					if p.kind == fkEndCursor {
						return r.str(page.Cursors[n-1])
					}
					return r.str(page.Cursors[0])
				default:
					return false
				}
				return true
			})
		case fkTotalCount:
			r.buf = strconv.AppendInt(r.buf, int64(page.TotalCount), 10)
		case fkFacets:
			return r.facets(c, page)
		default:
			return false
		}
		return true
	})
}

// facets writes OrgUserConnection.facets through the resolvers' own
// functions: facets counts every selected facet in one pass, and each
// facet field takes its counts from it as its resolver would.
func (r *fpRun) facets(f *fpField, page *directory.Page) bool {
	fctx := graphql.WithFieldContext(r.ctx, &graphql.FieldContext{Object: "OrgUserConnection", Field: f.cf, IsMethod: true, IsResolver: true})
	obj, err := facets(fctx, &model.OrgUserConnection{Page: page})
	if err != nil || obj == nil {
		return false
	}
	return r.object(f.children, func(c *fpField) bool {
		switch c.kind {
		case fkRoles, fkSignInStatus, fkLastSignIn:
			var counts []*directory.FacetCount
			var err error
			switch c.kind {
			case fkRoles:
				counts, err = facetRoles(obj)
			case fkSignInStatus:
				counts, err = facetSignInStatus(obj)
			default:
				args, aerr := r.ec.field_OrgUserFacets_lastSignIn_args(r.ctx, c.cf.ArgumentMap(r.opCtx.Variables))
				if aerr != nil {
					return false
				}
				days, _ := args["bucketsDays"].([]int)
				counts, err = facetLastSignIn(r.ctx, obj, days)
			}
			if err != nil {
				return false
			}
			r.buf = append(r.buf, '[')
			for i, fc := range counts {
				if i > 0 {
					r.buf = append(r.buf, ',')
				}
				if fc == nil || !r.facetCount(c.children, fc.Value, nil, fc.Count) {
					return false
				}
			}
			r.buf = append(r.buf, ']')
			return true
		case fkMetadata:
			args, err := r.ec.field_OrgUserFacets_metadata_args(r.ctx, c.cf.ArgumentMap(r.opCtx.Variables))
			if err != nil {
				return false
			}
			path, ok := args["path"].(string)
			if !ok {
				return false
			}
			source, _ := args["source"].(*model.MetadataSource)
			limit, _ := args["limit"].(*int)
			mf, err := facetMetadata(obj, path, source, limit)
			if err != nil || mf == nil {
				return false
			}
			return r.object(c.children, func(m *fpField) bool {
				switch m.kind {
				case fkPath:
					return r.str(mf.Path)
				case fkOtherCount:
					r.buf = strconv.AppendInt(r.buf, int64(mf.OtherCount), 10)
				case fkMissingCount:
					r.buf = strconv.AppendInt(r.buf, int64(mf.MissingCount), 10)
				case fkValues:
					r.buf = append(r.buf, '[')
					for i := range mf.Values {
						if i > 0 {
							r.buf = append(r.buf, ',')
						}
						v := &mf.Values[i]
						if v.Value == nil || !r.facetCount(m.children, "", v.Value, v.Count) {
							return false
						}
					}
					r.buf = append(r.buf, ']')
				default:
					return false
				}
				return true
			})
		}
		return false
	})
}

// facetCount writes a FacetCount (value a string) or a MetadataFacetValue
// (raw, JSON).
func (r *fpRun) facetCount(fields []fpField, value string, raw json.RawMessage, count int) bool {
	return r.object(fields, func(c *fpField) bool {
		switch c.kind {
		case fkValue:
			if raw != nil {
				return r.raw(raw)
			}
			return r.str(value)
		case fkCount:
			r.buf = strconv.AppendInt(r.buf, int64(count), 10)
			return true
		}
		return false
	})
}

// str writes s as the executor's answer would hold it.
func (r *fpRun) str(s string) bool {
	var ok bool
	r.buf, ok = appendString(r.buf, s)
	return ok
}

// raw writes a JSON scalar as scalar.MarshalJSON and json.Marshal would.
func (r *fpRun) raw(v json.RawMessage) bool {
	var b bytes.Buffer
	scalar.MarshalJSON(v).MarshalGQL(&b)
	out, err := json.Marshal(json.RawMessage(b.Bytes()))
	if err != nil {
		return false
	}
	r.buf = append(r.buf, out...)
	return true
}

// member writes one OrgUser from the snapshot's encoded fields.
func (r *fpRun) member(sel fpMemberSel, snap *directory.Snapshot, m *directory.Member) bool {
	if snap == nil {
		return false
	}
	pos := snap.Position(m)
	if pos < 0 {
		return false
	}
	enc := encodedMembers(snap).member(snap, pos)
	if enc.bad&sel.mask != 0 {
		return false
	}
	r.buf = append(r.buf, '{')
	for _, f := range sel.fields {
		r.buf = append(r.buf, f.prefix...)
		if f.index < 0 {
			r.buf = append(r.buf, `"OrgUser"`...)
			continue
		}
		r.buf = append(r.buf, enc.buf[enc.off[f.index]:enc.off[f.index+1]]...)
	}
	r.buf = append(r.buf, '}')
	return true
}

// memberJSON holds the members of one snapshot whose field values have
// been encoded, as the executor's answer holds them. Each member is
// encoded the first time an answer shows it, so that the first answer
// after a load or a change pays for its page, not for the whole
// organization.
type memberJSON struct {
	members []atomic.Pointer[encodedMember]
}

// encodedMember is one member's field values: field k of the memberFields
// is buf[off[k]:off[k+1]].
type encodedMember struct {
	buf []byte
	off [len(memberFields) + 1]uint32
	bad uint16 // bit k: the executor fails on field k
}

// encodedMemberOverhead is the heap an encodedMember holds besides its
// bytes, with its pointer in memberJSON.
const encodedMemberOverhead = int(unsafe.Sizeof(encodedMember{})) + 8

// SizeBytes is the heap memberJSON retains when built; members encoded
// later are counted as they are (Snapshot.GrowMemo). Both count in the
// snapshot's size and so in CACHE_MAX_BYTES.
func (e *memberJSON) SizeBytes() int { return 24 + 8*cap(e.members) }

// member returns member pos of snap encoded, encoding it on first use. Two
// answers that race to encode one member store equal encodings; only the
// first is kept and counted.
func (e *memberJSON) member(snap *directory.Snapshot, pos int) *encodedMember {
	if enc := e.members[pos].Load(); enc != nil {
		return enc
	}
	enc := encodeMember(&snap.Members()[pos])
	if !e.members[pos].CompareAndSwap(nil, enc) {
		return e.members[pos].Load()
	}
	snap.GrowMemo(cap(enc.buf) + encodedMemberOverhead)
	return enc
}

type memberJSONKey struct{}

// encodedMembers returns snap's encoded members, kept with the snapshot
// (directory.Snapshot.Memo).
func encodedMembers(snap *directory.Snapshot) *memberJSON {
	return snap.Memo(memberJSONKey{}, func(s *directory.Snapshot) any {
		return &memberJSON{members: make([]atomic.Pointer[encodedMember], s.Len())}
	}).(*memberJSON)
}

// encodeMember encodes one member's field values.
func encodeMember(m *directory.Member) *encodedMember {
	enc := &encodedMember{}
	var scratch bytes.Buffer
	gql := func(b []byte, m graphql.Marshaler) ([]byte, bool) {
		scratch.Reset()
		m.MarshalGQL(&scratch)
		out, err := json.Marshal(json.RawMessage(scratch.Bytes()))
		return append(b, out...), err == nil
	}
	str := func(b []byte, p *string) ([]byte, bool) {
		if p == nil {
			return append(b, "null"...), true
		}
		return appendString(b, *p)
	}
	// scalar.MarshalTime writes only ASCII digits, letters and -:.+ in
	// quotes, which json.Marshal leaves as they are.
	tm := func(b []byte, t time.Time) []byte {
		w := appendWriter{b}
		scalar.MarshalTime(t).MarshalGQL(&w)
		return w.b
	}
	optTime := func(b []byte, t *time.Time) []byte {
		if t == nil {
			return append(b, "null"...)
		}
		return tm(b, *t)
	}
	metadata := func(b []byte, raw json.RawMessage) ([]byte, bool) {
		if raw == nil {
			return b, false // JSON! null: the executor fails
		}
		return gql(b, scalar.MarshalJSON(raw))
	}
	buf := make([]byte, 0, 256+len(m.PublicMetadata)+len(m.MembershipMetadata))
	k := 0
	field := func(b []byte, fine bool) {
		enc.off[k] = uint32(len(buf))
		if fine {
			buf = b
		} else {
			enc.bad |= 1 << k // written as nothing; the fast path declines a selection of it
		}
		k++
	}
	field(appendString(buf, m.UserID))
	field(str(buf, m.Email))
	field(str(buf, m.FirstName))
	field(str(buf, m.LastName))
	field(str(buf, m.Username))
	field(str(buf, m.ImageURL))
	field(optTime(buf, m.LastSignInAt), true)
	field(metadata(buf, m.PublicMetadata))
	field(tm(buf, m.CreatedAt), true)
	field(appendString(buf, m.Role))
	field(appendString(buf, m.RoleName))
	field(metadata(buf, m.MembershipMetadata))
	field(tm(buf, m.JoinedAt), true)
	field(optTime(buf, m.LastActiveAt), true)
	field(strconv.AppendBool(buf, m.Banned), true)
	enc.off[k] = uint32(len(buf))
	enc.buf = bytes.Clone(buf) // exactly its size: it lives as long as the snapshot
	return enc
}

// encodeMembers encodes every member, as answers that show them all do
// (the benchmarks measure it).
func encodeMembers(snap *directory.Snapshot) *memberJSON {
	e := encodedMembers(snap)
	for i := range e.members {
		e.member(snap, i)
	}
	return e
}

// bytes reports the heap enc retains.
func (enc *memberJSON) bytes() int {
	n := enc.SizeBytes()
	for i := range enc.members {
		if m := enc.members[i].Load(); m != nil {
			n += cap(m.buf) + encodedMemberOverhead
		}
	}
	return n
}

// appendString appends s as graphql.MarshalString writes it and
// json.Marshal then compacts it: plain ASCII as it is, anything else
// (escapes, <, >, &, non-ASCII) through the same two functions. False when
// encoding/json refuses the result.
func appendString(b []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			var scratch bytes.Buffer
			graphql.MarshalString(s).MarshalGQL(&scratch)
			out, err := json.Marshal(json.RawMessage(scratch.Bytes()))
			return append(b, out...), err == nil
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
}

// fastPathTest, set by this package's tests only (GRAPHQL_FAST_PATH, see
// TestMain), overrides Options.FastPath so that every test runs against
// the executor it names.
var fastPathTest *bool

func fastPathOn(option bool) bool {
	if fastPathTest != nil {
		return *fastPathTest
	}
	return option
}

// loadMemo remembers, for one request, the snapshot (or the error) each
// organization's load gave, so that when the fast path declines, the
// executor answers from the same snapshot or with the same error, without
// loading again: a failing Clerk is not asked twice, and a failure is
// logged once.
type loadMemo struct {
	mu    sync.Mutex
	loads map[string]memoLoad
}

type memoLoad struct {
	snap *directory.Snapshot
	err  error
}

type loadMemoKey struct{}

func withLoadMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, loadMemoKey{}, &loadMemo{loads: map[string]memoLoad{}})
}

// memoSource is the resolvers' Source when the fast path is on: it serves
// a request's repeated loads of one organization from its loadMemo.
type memoSource struct{ inner directory.Source }

func (s memoSource) Members(ctx context.Context, orgID string) (*directory.Snapshot, error) {
	m, _ := ctx.Value(loadMemoKey{}).(*loadMemo)
	if m == nil {
		return s.inner.Members(ctx, orgID)
	}
	m.mu.Lock()
	l, ok := m.loads[orgID]
	m.mu.Unlock()
	if ok {
		return l.snap, l.err
	}
	snap, err := s.inner.Members(ctx, orgID)
	m.mu.Lock()
	if l, ok := m.loads[orgID]; ok { // a concurrent resolver loaded first: one answer per request
		snap, err = l.snap, l.err
	} else {
		m.loads[orgID] = memoLoad{snap, err}
	}
	m.mu.Unlock()
	return snap, err
}

// appendWriter is an io.Writer appending to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// answerBuffers recycles the fast path's answer buffers: allocating and
// clearing a fresh one per answer (67 KB for 100 members, 600 KB for
// 1,000) cost more than writing it. The transport gives an answer back
// (releaseAnswer) once written, unless the response cache keeps it.
var answerBuffers sync.Pool

// maxPooledAnswer bounds the buffers kept for reuse.
const maxPooledAnswer = 4 << 20

// answerBuffer returns an empty buffer for an answer of about hint bytes.
func answerBuffer(hint int) []byte {
	want := max(hint+hint/8, 512)
	if b, ok := answerBuffers.Get().(*[]byte); ok {
		if cap(*b) >= want {
			return (*b)[:0]
		}
	}
	return make([]byte, 0, want)
}

// releaseAnswer hands back an answer's buffer that nothing refers to any
// more.
func releaseAnswer(b []byte) {
	if cap(b) <= maxPooledAnswer {
		answerBuffers.Put(&b)
	}
}
