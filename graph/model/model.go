// Package model holds the GraphQL types that are not generated: the
// connection over a directory.Page (built lazily, so unrequested edges cost
// nothing) and the viewer.
package model

import "github.com/orgusers/orgusers/internal/directory"

// Viewer is the authenticated caller.
type Viewer struct {
	UserID           string
	OrganizationID   *string
	OrganizationRole *string
	OrganizationSlug *string
	Permissions      []string
}

// OrgUserConnection is one page of members in Relay connection form.
type OrgUserConnection struct {
	Page *directory.Page
}

// Nodes returns the members of the page.
func (c *OrgUserConnection) Nodes() []*directory.Member { return c.Page.Members }

// Edges returns the members of the page with their cursors.
func (c *OrgUserConnection) Edges() []*OrgUserEdge {
	edges := make([]OrgUserEdge, len(c.Page.Members))
	out := make([]*OrgUserEdge, len(c.Page.Members))
	for i, m := range c.Page.Members {
		edges[i] = OrgUserEdge{Cursor: c.Page.Cursors[i], Node: m}
		out[i] = &edges[i]
	}
	return out
}

// PageInfo describes where the page sits in the whole answer.
func (c *OrgUserConnection) PageInfo() *PageInfo {
	p := &PageInfo{HasNextPage: c.Page.HasNextPage, HasPreviousPage: c.Page.HasPreviousPage}
	if n := len(c.Page.Cursors); n > 0 {
		p.StartCursor = &c.Page.Cursors[0]
		p.EndCursor = &c.Page.Cursors[n-1]
	}
	return p
}

// TotalCount counts every member matching the filter.
func (c *OrgUserConnection) TotalCount() int { return c.Page.TotalCount }

// OrgUserEdge is a member with its cursor.
type OrgUserEdge struct {
	Cursor string
	Node   *directory.Member
}

// PageInfo is Relay's page information.
type PageInfo struct {
	HasNextPage     bool
	EndCursor       *string
	HasPreviousPage bool
	StartCursor     *string
}

// OrgInvitationConnection is one page of invitations.
type OrgInvitationConnection struct {
	Page *directory.InvitationPage
}

// Nodes returns the invitations of the page.
func (c *OrgInvitationConnection) Nodes() []*directory.Invitation { return c.Page.Invitations }

// PageInfo says whether more invitations follow and where to continue.
func (c *OrgInvitationConnection) PageInfo() *InvitationPageInfo {
	p := &InvitationPageInfo{HasNextPage: c.Page.HasNextPage}
	if c.Page.EndCursor != "" {
		p.EndCursor = &c.Page.EndCursor
	}
	return p
}

// TotalCount counts every invitation matching the query.
func (c *OrgInvitationConnection) TotalCount() int { return c.Page.TotalCount }

// InvitationPageInfo is the page information of an invitation page.
type InvitationPageInfo struct {
	HasNextPage bool
	EndCursor   *string
}

// OrgUserFacets are the facets of a connection's matching members. The
// OrgUserConnection.facets resolver counts every selected facet in one pass
// and keeps the results here for the field resolvers.
type OrgUserFacets struct {
	Page *directory.Page
	// Counted holds what the one pass counted; nil when nothing was.
	Counted *directory.Facets
	// Request is what Counted answers.
	Request directory.FacetRequest
}

// Node is a GraphQL Node: the objects node(id) returns. Its only
// implementation is the OrgUser type, bound to *directory.Member, which
// the domain package defines without GraphQL in mind: so the interface
// asks nothing of it.
type Node interface{}
