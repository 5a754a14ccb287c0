package graph

import (
	"context"
	"slices"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/orgusers/orgusers/graph/model"
	"github.com/orgusers/orgusers/internal/directory"
)

// setFacetComplexity sets the costs of the facets of OrgUserConnection.
// Each facet is one pass over the matching members with a short answer
// (at most 100 values, 12 buckets, the roles of the instance), so each
// costs 1 whatever it selects; the facets object costs 1 plus its facets.
// (orgUsers multiplies its whole selection by `first`, facets included.)
func setFacetComplexity(c *ComplexityRoot) {
	one := func(int) int { return 1 }
	c.OrgUserConnection.Facets = func(child int) int { return 1 + child }
	c.OrgUserFacets.Roles = one
	c.OrgUserFacets.SignInStatus = one
	c.OrgUserFacets.LastSignIn = func(int, []int) int { return 1 }
	c.OrgUserFacets.Metadata = func(int, string, *model.MetadataSource, *int) int { return 1 }
}

// facets answers OrgUserConnection.facets: it counts every facet selected
// below it (aliases included) in one pass over the connection's matching
// members. A facet whose arguments are invalid, or that the pass did not
// answer, is left to its field resolver, which reports the error or counts
// it alone.
func facets(ctx context.Context, conn *model.OrgUserConnection) (*model.OrgUserFacets, error) {
	out := &model.OrgUserFacets{Page: conn.Page}
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !graphql.HasOperationContext(ctx) {
		return out, nil
	}
	oc := graphql.GetOperationContext(ctx)
	var req directory.FacetRequest
	asked := false
	for _, f := range graphql.CollectFields(oc, fc.Field.Selections, []string{"OrgUserFacets"}) {
		args := f.ArgumentMap(oc.Variables)
		switch f.Name {
		case "roles":
			req.Roles, asked = true, true
		case "signInStatus":
			req.SignInStatus, asked = true, true
		case "lastSignIn":
			if req.LastSignIn {
				continue
			}
			days, ok := intList(args["bucketsDays"])
			if ok && directory.ValidateBucketsDays(days) == nil {
				req.LastSignIn, req.BucketsDays, asked = true, bucketsOrDefault(days), true
			}
		case "metadata":
			r, ok := metadataFacetArgs(args)
			if ok && r.Validate() == nil && !slices.Contains(req.Metadata, r) {
				req.Metadata, asked = append(req.Metadata, r), true
			}
		}
	}
	if !asked {
		return out, nil
	}
	counted, err := conn.Page.Facets(req, time.Now())
	if err != nil {
		return nil, err
	}
	out.Counted, out.Request = counted, req
	return out, nil
}

// facetRoles answers OrgUserFacets.roles.
func facetRoles(obj *model.OrgUserFacets) ([]*directory.FacetCount, error) {
	if obj.Counted == nil || !obj.Request.Roles {
		f, err := obj.Page.Facets(directory.FacetRequest{Roles: true}, time.Now())
		if err != nil {
			return nil, err
		}
		return countPointers(f.Roles), nil
	}
	return countPointers(obj.Counted.Roles), nil
}

// facetSignInStatus answers OrgUserFacets.signInStatus.
func facetSignInStatus(obj *model.OrgUserFacets) ([]*directory.FacetCount, error) {
	if obj.Counted == nil || !obj.Request.SignInStatus {
		f, err := obj.Page.Facets(directory.FacetRequest{SignInStatus: true}, time.Now())
		if err != nil {
			return nil, err
		}
		return countPointers(f.SignInStatus), nil
	}
	return countPointers(obj.Counted.SignInStatus), nil
}

// facetLastSignIn answers OrgUserFacets.lastSignIn. The answer depends on
// the time, so the response cache never keeps it.
// Errors: BAD_USER_INPUT naming bucketsDays.
func facetLastSignIn(ctx context.Context, obj *model.OrgUserFacets, days []int) ([]*directory.FacetCount, error) {
	noStore(ctx)
	days = bucketsOrDefault(days)
	if obj.Counted != nil && obj.Request.LastSignIn && slices.Equal(obj.Request.BucketsDays, days) {
		return countPointers(obj.Counted.LastSignIn), nil
	}
	f, err := obj.Page.Facets(directory.FacetRequest{LastSignIn: true, BucketsDays: days}, time.Now())
	if err != nil {
		return nil, err
	}
	return countPointers(f.LastSignIn), nil
}

// facetMetadata answers OrgUserFacets.metadata.
// Errors: BAD_USER_INPUT naming path, source or limit.
func facetMetadata(obj *model.OrgUserFacets, path string, source *model.MetadataSource, limit *int) (*directory.MetadataFacet, error) {
	r := directory.MetadataFacetRequest{Path: path, Source: directory.MetadataUser, Limit: directory.DefaultFacetLimit}
	if source != nil {
		r.Source = directory.MetadataSource(*source)
	}
	if limit != nil {
		r.Limit = *limit
	}
	if obj.Counted != nil {
		if k := slices.Index(obj.Request.Metadata, r); k >= 0 {
			return &obj.Counted.Metadata[k], nil
		}
	}
	f, err := obj.Page.Facets(directory.FacetRequest{Metadata: []directory.MetadataFacetRequest{r}}, time.Now())
	if err != nil {
		return nil, err
	}
	return &f.Metadata[0], nil
}

// metadataFacetArgs reads the arguments of a metadata facet as
// ArgumentMap gives them (defaults applied).
func metadataFacetArgs(args map[string]any) (directory.MetadataFacetRequest, bool) {
	r := directory.MetadataFacetRequest{Source: directory.MetadataUser, Limit: directory.DefaultFacetLimit}
	var ok bool
	if r.Path, ok = args["path"].(string); !ok {
		return r, false
	}
	switch s := args["source"].(type) {
	case nil:
	case string:
		r.Source = directory.MetadataSource(s)
	case model.MetadataSource:
		r.Source = directory.MetadataSource(s)
	default:
		return r, false
	}
	if v, given := args["limit"]; given && v != nil {
		n, ok := asInt(v)
		if !ok {
			return r, false
		}
		r.Limit = int(n)
	}
	return r, true
}

// intList reads a list of Int argument; nil stays nil.
func intList(v any) ([]int, bool) {
	if v == nil {
		return nil, true
	}
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]int, len(list))
	for i, e := range list {
		n, ok := asInt(e)
		if !ok {
			return nil, false
		}
		out[i] = int(n)
	}
	return out, true
}

func bucketsOrDefault(days []int) []int {
	if days == nil {
		return directory.DefaultBucketsDays
	}
	return days
}

func countPointers(cs []directory.FacetCount) []*directory.FacetCount {
	out := make([]*directory.FacetCount, len(cs))
	for i := range cs {
		out[i] = &cs[i]
	}
	return out
}
