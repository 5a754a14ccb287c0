package rest

import (
	_ "embed"
	"net/http"
)

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIPath is where OpenAPIHandler is mounted.
const OpenAPIPath = "/openapi.json"

// OpenAPIDocument returns the OpenAPI 3.0 document of the REST endpoint.
func OpenAPIDocument() []byte { return openAPIDocument }

// OpenAPIHandler serves the OpenAPI document; it needs no authentication.
func OpenAPIHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(openAPIDocument)
	})
}
