package graph

//go:generate go tool gqlgen generate

import "github.com/orgusers/orgusers/internal/directory"

// Resolver is the root resolver. Build it with New.
type Resolver struct {
	Directory *directory.Service
}
