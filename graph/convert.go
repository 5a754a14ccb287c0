package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/orgusers/orgusers/graph/model"
	"github.com/orgusers/orgusers/internal/directory"
)

// metadataOperators are the operator fields of a MetadataCondition input.
var metadataOperators = map[string]directory.MetadataOp{
	"equals":   directory.OpEquals,
	"in":       directory.OpIn,
	"exists":   directory.OpExists,
	"includes": directory.OpIncludes,
	"contains": directory.OpContains,
}

// toFilter translates the GraphQL filter input into the domain filter.
// Errors: BAD_USER_INPUT naming the offending field.
func toFilter(in *model.OrgUserFilter, path string) (*directory.Filter, error) {
	if in == nil {
		return nil, nil
	}
	f := &directory.Filter{
		Roles:            in.Roles,
		LastSignInAfter:  in.LastSignInAfter,
		LastSignInBefore: in.LastSignInBefore,
		CreatedAfter:     in.CreatedAfter,
		CreatedBefore:    in.CreatedBefore,
		Search:           in.Search,
		UserIDs:          in.UserIds,
		Emails:           in.Emails,
	}
	if in.SignInStatus != nil {
		f.SignInStatus = directory.SignInStatus(*in.SignInStatus)
	}
	for i, raw := range in.Metadata {
		c, err := toMetadataCondition(raw, fmt.Sprintf("%s.metadata[%d]", path, i))
		if err != nil {
			return nil, err
		}
		f.Metadata = append(f.Metadata, c)
	}
	var err error
	if f.And, err = toFilters(in.And, path+".and"); err != nil {
		return nil, err
	}
	if f.Or, err = toFilters(in.Or, path+".or"); err != nil {
		return nil, err
	}
	if f.Not, err = toFilter(in.Not, path+".not"); err != nil {
		return nil, err
	}
	return f, nil
}

func toFilters(in []*model.OrgUserFilter, path string) ([]directory.Filter, error) {
	if in == nil {
		return nil, nil
	}
	out := make([]directory.Filter, len(in))
	for i, sub := range in {
		f, err := toFilter(sub, fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, err
		}
		if f != nil {
			out[i] = *f
		}
	}
	return out, nil
}

// toMetadataCondition reads one MetadataCondition input object, as gqlgen
// unmarshals it: path a string, source a *model.MetadataSource, exists a
// *bool, contains a *string, equals and includes json.RawMessage, in a
// []json.RawMessage. It is a map so that an explicit `equals: null` (match a
// JSON null) differs from an absent operator. Errors: BAD_USER_INPUT unless
// exactly one operator is given.
func toMetadataCondition(raw map[string]any, path string) (directory.MetadataCondition, error) {
	c := directory.MetadataCondition{Source: directory.MetadataUser}
	c.Path, _ = deref(raw["path"]).(string)
	if s := deref(raw["source"]); s != nil { // null or absent: the default, USER
		switch model.MetadataSource(fmt.Sprint(s)) {
		case model.MetadataSourceUser:
			c.Source = directory.MetadataUser
		case model.MetadataSourceMembership:
			c.Source = directory.MetadataMembership
		default:
			return c, directory.Errorf(directory.CodeBadUserInput, "%s.source: unknown metadata source %q", path, fmt.Sprint(s))
		}
	}
	var given []string
	for name, op := range metadataOperators {
		v, ok := raw[name]
		if !ok {
			continue
		}
		// An explicit null is a value only for equals and includes (match a
		// JSON null); for in, exists and contains it carries no test and
		// counts as absent.
		if deref(v) == nil && op != directory.OpEquals && op != directory.OpIncludes {
			continue
		}
		given = append(given, name)
		c.Op = op
		switch op {
		case directory.OpEquals, directory.OpIncludes:
			val, err := jsonValue(v)
			if err != nil {
				return c, directory.Errorf(directory.CodeBadUserInput, "%s.%s: %v", path, name, err)
			}
			c.Value = val
		case directory.OpIn:
			list, err := jsonList(v)
			if err != nil {
				return c, directory.Errorf(directory.CodeBadUserInput, "%s.in: %v", path, err)
			}
			c.Values = list
		case directory.OpExists:
			b, isBool := deref(v).(bool)
			if !isBool {
				return c, directory.Errorf(directory.CodeBadUserInput, "%s.exists: must be a boolean", path)
			}
			c.Exists = b
		case directory.OpContains:
			str, isString := deref(v).(string)
			if !isString {
				return c, directory.Errorf(directory.CodeBadUserInput, "%s.contains: must be a string", path)
			}
			c.Value = str
		}
	}
	if len(given) != 1 {
		sort.Strings(given)
		what := "none"
		if len(given) > 0 {
			what = strings.Join(given, ", ")
		}
		return c, directory.Errorf(directory.CodeBadUserInput,
			"%s: give exactly one operator of equals, in, exists, includes, contains (got %s)", path, what)
	}
	return c, nil
}

// deref returns the value behind gqlgen's pointer and list types, and nil for
// a null of any of them.
func deref(v any) any {
	switch x := v.(type) {
	case *bool:
		if x == nil {
			return nil
		}
		return *x
	case *string:
		if x == nil {
			return nil
		}
		return *x
	case *model.MetadataSource:
		if x == nil {
			return nil
		}
		return string(*x)
	case model.MetadataSource:
		return string(x)
	case json.RawMessage:
		if x == nil {
			return nil
		}
	case []json.RawMessage:
		if x == nil {
			return nil
		}
	}
	return v
}

// toOrder translates the GraphQL order input; nil means EMAIL ASC.
func toOrder(in *model.OrgUserOrder) directory.Order {
	if in == nil {
		return directory.Order{Field: directory.OrderEmail, Direction: directory.Asc}
	}
	return directory.Order{Field: directory.OrderField(in.Field), Direction: directory.Direction(in.Direction)}
}

// jsonValue turns a JSON scalar argument (raw JSON from scalar.UnmarshalJSON)
// into a decoded value; numbers stay exact as json.Number.
func jsonValue(v any) (any, error) {
	raw, ok := v.(json.RawMessage)
	if !ok {
		return v, nil
	}
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("invalid JSON value")
	}
	return out, nil
}

// jsonList decodes the elements of a [JSON!] argument.
func jsonList(v any) ([]any, error) {
	var items []any
	switch list := v.(type) {
	case []json.RawMessage:
		for _, e := range list {
			items = append(items, e)
		}
	case []any:
		items = list
	default:
		return nil, fmt.Errorf("expected a list of JSON values")
	}
	out := make([]any, len(items))
	for i, e := range items {
		val, err := jsonValue(e)
		if err != nil {
			return nil, err
		}
		out[i] = val
	}
	return out, nil
}
