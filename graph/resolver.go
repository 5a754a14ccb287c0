package graph

//go:generate go tool gqlgen generate

import (
	"github.com/orgusers/orgusers/internal/directory"
	"github.com/orgusers/orgusers/internal/live"
)

// Resolver is the root resolver. Build it with New.
type Resolver struct {
	Directory *directory.Service
	// Bulk runs the bulk mutations; nil answers them with INTERNAL_SERVER_ERROR.
	Bulk *directory.Bulk
	// Invitations answers orgInvitations and runs the invitation mutations;
	// nil answers them with INTERNAL_SERVER_ERROR.
	Invitations *directory.Invitations
	// Live answers orgUsersChanged; nil answers it INTERNAL_SERVER_ERROR.
	Live *live.Hub
}
