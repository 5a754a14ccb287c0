package clerksource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/orgusers/orgusers/internal/directory"
)

// The two lists a load reads, GET /users and GET
// /organizations/{id}/memberships, are most of a load's CPU: 5,000 members
// are about 11 MB of JSON, and decoding them into clerk-sdk-go's types with
// encoding/json (which validates the whole body, then decodes every field
// of every user by reflection) cost more than the round trip it follows.
// These decoders read the body once, with the streaming tokenizer of
// encoding/json/v2 (jsontext, which validates as it goes), keep only the
// fields a member keeps, and skip the rest without allocating. They accept
// exactly what encoding/json decodes into clerk.User and
// clerk.OrganizationMembership for those fields: keys match
// case-insensitively, null leaves a value unset, integers must be
// integers, invalid UTF-8 and repeated keys are accepted, and a string with
// an escape or invalid UTF-8 is unquoted by encoding/json itself.
// TestListDecodersMatchSDK, FuzzDecodeUsers and FuzzDecodeMemberships
// compare them with the SDK's decoding. Unlike encoding/json they do not
// check the types of fields they do not read.

// membership is what a member keeps of a Clerk organization membership.
type membership struct {
	userID           string // public_user_data.user_id; "" when absent
	role, roleName   string
	metadata         json.RawMessage // public_metadata, as sent
	created, updated int64           // Unix milliseconds
}

// listDecoder reads one list body.
type listDecoder struct{ dec *jsontext.Decoder }

func newListDecoder(body *bytes.Buffer) listDecoder {
	// encoding/json accepts invalid UTF-8 and repeated keys; so do we.
	return listDecoder{jsontext.NewDecoder(body, jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))}
}

// end checks that nothing but white space follows the top-level value.
func (d listDecoder) end() error {
	if _, err := d.dec.ReadToken(); err != io.EOF {
		return fmt.Errorf("clerk answered a body that is not JSON: text after the value")
	}
	return nil
}

// value reads the next value whole.
func (d listDecoder) value() ([]byte, error) {
	v, err := d.dec.ReadValue()
	if err != nil {
		return nil, notJSON(err)
	}
	return v, nil
}

// array calls f for each element of the array the decoder is at; f must
// read the element whole. raw null is not an array: callers check first.
func (d listDecoder) array(f func() error) error {
	if _, err := d.dec.ReadToken(); err != nil { // [
		return notJSON(err)
	}
	for d.dec.PeekKind() != ']' {
		if err := f(); err != nil {
			return err
		}
	}
	if _, err := d.dec.ReadToken(); err != nil { // ]
		return notJSON(err)
	}
	return nil
}

// object calls f with each key of the object the decoder is at; f must
// read the key's value whole (or skip it with skip). The key is only
// valid during the call.
func (d listDecoder) object(f func(key []byte) error) error {
	if _, err := d.dec.ReadToken(); err != nil { // {
		return notJSON(err)
	}
	for d.dec.PeekKind() != '}' {
		name, err := d.dec.ReadValue()
		if err != nil {
			return notJSON(err)
		}
		key := name[1 : len(name)-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			s, err := jsonString(name)
			if err != nil {
				return err
			}
			key = []byte(s)
		}
		if err := f(key); err != nil {
			return err
		}
	}
	if _, err := d.dec.ReadToken(); err != nil { // }
		return notJSON(err)
	}
	return nil
}

// nullOr reads the next value with f when it is of kind want, or past it
// when it is null (reporting that), and otherwise fails naming what was
// wanted (what) and what came.
func (d listDecoder) nullOr(want jsontext.Kind, what string, f func() error) (null bool, err error) {
	switch k := d.dec.PeekKind(); k {
	case 'n':
		return true, d.skip()
	case want:
		return false, f()
	case 0:
		return false, d.skip() // reports the syntax error
	default:
		return false, fmt.Errorf("want %s, got %s", what, kindOf(k))
	}
}

// skip reads past the next value.
func (d listDecoder) skip() error {
	if err := d.dec.SkipValue(); err != nil {
		return notJSON(err)
	}
	return nil
}

func notJSON(err error) error {
	return fmt.Errorf("clerk answered a body that is not JSON: %w", err)
}

// kindOf names the JSON kind a value starting with c is, for errors.
func kindOf(c jsontext.Kind) string {
	switch c {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '0':
		return "a number"
	case '"':
		return "a string"
	case '[':
		return "an array"
	case '{':
		return "an object"
	}
	return "nothing"
}

// decodeUsers reads a GET /users answer (a bare array) into members
// holding only the user's fields. Null elements are left out. capacity is
// the page size asked for.
func decodeUsers(body *bytes.Buffer, capacity int) ([]directory.Member, error) {
	d := newListDecoder(body)
	var out []directory.Member
	_, err := d.nullOr('[', "an array", func() error {
		out = make([]directory.Member, 0, capacity)
		return d.array(func() error {
			_, err := d.nullOr('{', "a user object", func() error {
				m, err := d.user()
				out = append(out, m)
				return err
			})
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("clerk users list: %w", err)
	}
	return out, d.end()
}

// userKeys are the user fields a user decoder reads.
var userKeys = []string{"id", "primary_email_address_id", "email_addresses", "first_name", "last_name",
	"username", "image_url", "last_sign_in_at", "last_active_at", "created_at", "updated_at",
	"banned", "public_metadata"}

// user reads one user object. Private and unsafe metadata are skipped
// unread.
func (d listDecoder) user() (directory.Member, error) {
	u := userDecoder{d: d}
	if err := d.object(u.field); err != nil {
		return directory.Member{}, err
	}
	m := u.m
	m.CreatedAt, m.UserUpdatedAt = millis(u.created), millis(u.updated)
	m.PublicMetadata = metadata(m.PublicMetadata)
	m.FirstName, m.LastName = nilIfEmpty(m.FirstName), nilIfEmpty(m.LastName)
	m.Username, m.ImageURL = nilIfEmpty(m.Username), nilIfEmpty(m.ImageURL)
	if u.primary != nil {
		for _, e := range u.emails {
			if e.present && e.id == *u.primary {
				m.Email = nilIfEmpty(&e.address)
				break
			}
		}
	}
	return m, nil
}

// userDecoder holds one user while its fields are read.
type userDecoder struct {
	d                listDecoder
	m                directory.Member
	primary          *string
	emails           []emailAddress
	created, updated int64
}

func (u *userDecoder) field(key []byte) error {
	m := &u.m
	var err error
	switch string(key) {
	case "id":
		err = readString(u.d, &m.UserID)
	case "primary_email_address_id":
		err = readOptString(u.d, &u.primary)
	case "email_addresses":
		u.emails, err = u.d.emails()
	case "first_name":
		err = readOptString(u.d, &m.FirstName)
	case "last_name":
		err = readOptString(u.d, &m.LastName)
	case "username":
		err = readOptString(u.d, &m.Username)
	case "image_url":
		err = readOptString(u.d, &m.ImageURL)
	case "last_sign_in_at":
		err = readOptTime(u.d, &m.LastSignInAt)
	case "last_active_at":
		err = readOptTime(u.d, &m.LastActiveAt)
	case "created_at":
		err = readInt(u.d, &u.created)
	case "updated_at":
		err = readInt(u.d, &u.updated)
	case "banned":
		err = readBool(u.d, &m.Banned)
	case "public_metadata":
		m.PublicMetadata, err = readRaw(u.d)
	default:
		if k := foldKey(key, userKeys); k != "" {
			return u.field([]byte(k))
		}
		return u.d.skip()
	}
	if err != nil {
		return fieldError("user", key, err)
	}
	return nil
}

// fieldError names the field whose value was wrong; a body that is not
// JSON is reported as such.
func fieldError(what string, key []byte, err error) error {
	var syntax *jsontext.SyntacticError
	if errors.As(err, &syntax) {
		return err
	}
	return fmt.Errorf("%s field %q: %w", what, key, err)
}

// nilIfEmpty maps a pointer to "" to nil, as optString does for the SDK's
// users.
func nilIfEmpty(p *string) *string {
	if p == nil || *p == "" {
		return nil
	}
	return p
}

// emailAddress is what a user decoder keeps of an email address object.
type emailAddress struct {
	d           listDecoder
	present     bool // false for a null element
	id, address string
}

var emailKeys = []string{"id", "email_address"}

func (a *emailAddress) field(key []byte) error {
	switch string(key) {
	case "id":
		return readString(a.d, &a.id)
	case "email_address":
		return readString(a.d, &a.address)
	default:
		if k := foldKey(key, emailKeys); k != "" {
			return a.field([]byte(k))
		}
		return a.d.skip()
	}
}

func (d listDecoder) emails() ([]emailAddress, error) {
	var out []emailAddress
	_, err := d.nullOr('[', "an array", func() error {
		return d.array(func() error {
			a := emailAddress{d: d}
			_, err := d.nullOr('{', "an email address object", func() error {
				a.present = true // a null element is listed, not present
				return d.object(a.field)
			})
			out = append(out, a)
			return err
		})
	})
	return out, err
}

// decodeMemberships reads a GET /organizations/{id}/memberships answer.
// Null elements are returned as memberships without a user id, which the
// join drops with a warning, as it drops a membership without
// public_user_data. capacity is the page size asked for.
func decodeMemberships(body *bytes.Buffer, capacity int) ([]membership, int64, error) {
	d := newListDecoder(body)
	var (
		out   []membership
		total int64
	)
	l := membershipList{d: d, out: &out, total: &total, capacity: capacity}
	if _, err := d.nullOr('{', "an object", func() error { return d.object(l.field) }); err != nil {
		return nil, 0, fmt.Errorf("clerk memberships list: %w", err)
	}
	return out, total, d.end()
}

var (
	listKeys       = []string{"data", "total_count"}
	membershipKeys = []string{"role", "role_name", "public_metadata", "created_at", "updated_at", "public_user_data"}
	publicUserKeys = []string{"user_id"}
)

// membershipList reads the keys of a memberships page.
type membershipList struct {
	d        listDecoder
	out      *[]membership
	total    *int64
	capacity int
}

func (l membershipList) field(key []byte) error {
	d := l.d
	switch string(key) {
	case "data":
		null, err := d.nullOr('[', "an array", func() error {
			*l.out = make([]membership, 0, l.capacity)
			return d.array(func() error {
				m := membershipDecoder{d: d}
				_, err := d.nullOr('{', "a membership object", func() error { return d.object(m.field) })
				*l.out = append(*l.out, m.m) // a null element: a membership without a user id
				return err
			})
		})
		if null {
			*l.out = nil
		}
		if err != nil {
			return fmt.Errorf("data: %w", err)
		}
		return nil
	case "total_count":
		if err := readInt(d, l.total); err != nil {
			return fieldError("list", key, err)
		}
		return nil
	default:
		if k := foldKey(key, listKeys); k != "" {
			return l.field([]byte(k))
		}
		return d.skip()
	}
}

// membershipDecoder reads one membership object. Its private metadata and
// its organization are skipped unread.
type membershipDecoder struct {
	d listDecoder
	m membership
}

func (md *membershipDecoder) field(key []byte) error {
	m := &md.m
	var err error
	switch string(key) {
	case "role":
		err = readString(md.d, &m.role)
	case "role_name":
		err = readString(md.d, &m.roleName)
	case "public_metadata":
		m.metadata, err = readRaw(md.d)
	case "created_at":
		err = readInt(md.d, &m.created)
	case "updated_at":
		err = readInt(md.d, &m.updated)
	case "public_user_data":
		err = md.publicUser()
	default:
		if k := foldKey(key, membershipKeys); k != "" {
			return md.field([]byte(k))
		}
		return md.d.skip()
	}
	if err != nil {
		return fieldError("membership", key, err)
	}
	return nil
}

// publicUser reads public_user_data's user_id. encoding/json decodes a
// second public_user_data into the same struct as the first, unless null
// came between: so does this.
func (md *membershipDecoder) publicUser() error {
	d := md.d
	var field func(key []byte) error
	field = func(key []byte) error {
		switch string(key) {
		case "user_id":
			return readString(d, &md.m.userID)
		default:
			if k := foldKey(key, publicUserKeys); k != "" {
				return field([]byte(k))
			}
			return d.skip()
		}
	}
	null, err := d.nullOr('{', "an object", func() error { return d.object(field) })
	if null {
		md.m.userID = ""
	}
	return err
}

// foldKey returns the name in names that key matches case-insensitively,
// as encoding/json matches keys to struct fields, or "". Every name is
// lower-case ASCII, so a key with neither upper-case ASCII nor other
// Unicode (whose case folding can reach ASCII, such as the Kelvin sign)
// can only match a name exactly, and the callers' switches have already
// tried that.
func foldKey(key []byte, names []string) string {
	plain := true
	for _, c := range key {
		if c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			plain = false
			break
		}
	}
	if plain {
		return ""
	}
	for _, n := range names {
		if bytes.EqualFold(key, []byte(n)) {
			return n
		}
	}
	return ""
}

// jsonString returns the JSON string literal raw as a Go string: the
// bytes between the quotes when they need no unescaping and are valid
// UTF-8 (the common case), and otherwise whatever encoding/json makes of
// it.
func jsonString(raw []byte) (string, error) {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// stringValue reads the next value as a string: null reports null, any
// other kind is an error.
func stringValue(d listDecoder) (s string, null bool, err error) {
	raw, err := d.value()
	if err != nil {
		return "", false, err
	}
	switch raw[0] {
	case 'n':
		return "", true, nil
	case '"':
		s, err := jsonString(raw)
		return s, false, err
	}
	return "", false, fmt.Errorf("want a string, got %s", kindOf(jsontext.Value(raw).Kind()))
}

// readString reads a string field; null leaves it unchanged, as
// encoding/json does.
func readString(d listDecoder, dst *string) error {
	s, null, err := stringValue(d)
	if err == nil && !null {
		*dst = s
	}
	return err
}

// readOptString reads a *string field; null sets it to nil.
func readOptString(d listDecoder, dst **string) error {
	s, null, err := stringValue(d)
	switch {
	case err != nil:
	case null:
		*dst = nil
	default:
		*dst = &s
	}
	return err
}

// intValue reads the next value as an integer: null reports null; a
// fraction, an exponent, overflow or any other kind is an error.
func intValue(d listDecoder) (n int64, null bool, err error) {
	raw, err := d.value()
	if err != nil {
		return 0, false, err
	}
	switch k := jsontext.Value(raw).Kind(); k {
	case 'n':
		return 0, true, nil
	case '0':
		n, ok := parseInt(raw)
		if !ok {
			return 0, false, fmt.Errorf("want an integer, got %s", raw)
		}
		return n, false, nil
	default:
		return 0, false, fmt.Errorf("want a number, got %s", kindOf(k))
	}
}

// readInt reads an int64 field; null leaves it unchanged.
func readInt(d listDecoder, dst *int64) error {
	n, null, err := intValue(d)
	if err == nil && !null {
		*dst = n
	}
	return err
}

// parseInt parses a JSON number that is an integer fitting int64, as
// strconv.ParseInt does for encoding/json, without allocating.
func parseInt(raw []byte) (int64, bool) {
	digits := raw
	neg := len(raw) > 0 && raw[0] == '-'
	if neg {
		digits = raw[1:]
	}
	if len(digits) == 0 || len(digits) > 19 {
		return 0, false
	}
	var u uint64 // 19 digits stay below 2^64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case neg && u <= 1<<63:
		return int64(-u), true // -(1<<63) wraps to itself, as wanted
	case !neg && u < 1<<63:
		return int64(u), true
	}
	return 0, false
}

// readOptTime reads a *time.Time field from Unix milliseconds; null sets
// it to nil.
func readOptTime(d listDecoder, dst **time.Time) error {
	ms, null, err := intValue(d)
	switch {
	case err != nil:
	case null:
		*dst = nil
	default:
		t := millis(ms)
		*dst = &t
	}
	return err
}

func readBool(d listDecoder, dst *bool) error {
	raw, err := d.value()
	if err != nil {
		return err
	}
	switch k := jsontext.Value(raw).Kind(); k {
	case 'n':
	case 't', 'f':
		*dst = k == 't'
	default:
		return fmt.Errorf("want a boolean, got %s", kindOf(k))
	}
	return nil
}

// readRaw returns a copy of the next value's JSON text, as json.RawMessage
// keeps it.
func readRaw(d listDecoder) (json.RawMessage, error) {
	raw, err := d.value()
	if err != nil {
		return nil, err
	}
	return bytes.Clone(raw), nil
}

// bodies recycles the buffers list answers are read into: the decoders
// copy what they keep, so a buffer is free again once its page is decoded.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody is the largest buffer kept for reuse (a page of 500 users
// is about 1 MB).
const maxPooledBody = 4 << 20

// list sends GET path?query as clerk-sdk-go's backend does (its headers,
// through the same client, so the same Transport: rate limit, retries,
// circuit breaker) and hands the body of a successful answer to decode.
// Any other answer becomes the SDK's *clerk.APIErrorResponse, as the
// SDK's Call returns it, so that errors read the same whichever path
// sent the request.
func (r *Repository) list(ctx context.Context, path string, query url.Values, decode func(*bytes.Buffer) error) error {
	u, err := clerk.JoinPath(r.apiURL, path)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.URL.RawQuery = query.Encode()
	req.Header = http.Header{
		"Authorization":     {"Bearer " + r.secretKey},
		"Content-Type":      {"application/json"},
		"User-Agent":        {sdkUserAgent},
		"Clerk-Api-Version": {clerkAPIVersion},
		"X-Clerk-Sdk":       {sdkHeader},
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf := bodies.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBody {
			buf.Reset()
			bodies.Put(buf)
		}
	}()
	buf.Reset()
	if resp.ContentLength > 0 && resp.ContentLength <= maxPooledBody {
		buf.Grow(int(resp.ContentLength) + 1) // +1: ReadFrom's last read finds EOF without growing
	}
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return err
	}
	if resp.StatusCode >= http.StatusBadRequest {
		body := bytes.Clone(buf.Bytes())
		return sdkError(clerk.NewAPIResponse(resp, body), body)
	}
	return decode(buf)
}

// sdkError builds the error clerk-sdk-go's backend returns for an
// unsuccessful answer: an *APIErrorResponse when the body is Clerk's error
// shape, else the body as an error.
func sdkError(resp *clerk.APIResponse, body []byte) error {
	apiErr := &clerk.APIErrorResponse{HTTPStatusCode: resp.StatusCode}
	apiErr.Read(resp)
	if err := json.Unmarshal(body, apiErr); err != nil || apiErr.Errors == nil {
		return errors.New(string(body))
	}
	return apiErr
}

// The headers clerk-sdk-go v2 sends with every request (its version
// string and the API version it was written against).
const (
	sdkUserAgent    = "clerk/clerk-sdk-go@v2.0.0"
	sdkHeader       = "go/v2.0.0"
	clerkAPIVersion = "2025-04-10"
)
