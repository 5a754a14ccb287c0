package graph

import (
	"testing"

	"github.com/orgusers/orgusers/graph/model"
	"github.com/orgusers/orgusers/internal/directory"
)

func TestToMetadataCondition(t *testing.T) {
	cases := []struct {
		name    string
		in      map[string]any
		want    directory.MetadataCondition
		wantErr bool
	}{
		{"equals string", map[string]any{"path": "department", "equals": "Sales"},
			directory.MetadataCondition{Path: "department", Source: directory.MetadataUser, Op: directory.OpEquals, Value: "Sales"}, false},
		{"explicit null equals", map[string]any{"path": "x", "equals": nil},
			directory.MetadataCondition{Path: "x", Source: directory.MetadataUser, Op: directory.OpEquals, Value: nil}, false},
		{"membership source", map[string]any{"path": "team", "source": "MEMBERSHIP", "exists": false},
			directory.MetadataCondition{Path: "team", Source: directory.MetadataMembership, Op: directory.OpExists, Exists: false}, false},
		{"contains", map[string]any{"path": "a.b", "contains": "x"},
			directory.MetadataCondition{Path: "a.b", Source: directory.MetadataUser, Op: directory.OpContains, Value: "x"}, false},
		{"no operator", map[string]any{"path": "a"}, directory.MetadataCondition{}, true},
		{"two operators", map[string]any{"path": "a", "equals": 1, "exists": true}, directory.MetadataCondition{}, true},
		{"unknown source", map[string]any{"path": "a", "source": "ORG", "exists": true}, directory.MetadataCondition{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := toMetadataCondition(tc.in, "filter.metadata[0]")
			if tc.wantErr {
				if directory.ErrorCode(err) != directory.CodeBadUserInput {
					t.Fatalf("err = %v, want BAD_USER_INPUT", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Path != tc.want.Path || got.Source != tc.want.Source || got.Op != tc.want.Op || got.Value != tc.want.Value || got.Exists != tc.want.Exists {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestToFilterNamesTheBadNestedCondition(t *testing.T) {
	in := &model.OrgUserFilter{Or: []*model.OrgUserFilter{{}, {Not: &model.OrgUserFilter{Metadata: []map[string]any{{"path": "a"}}}}}}
	_, err := toFilter(in, "filter")
	if err == nil || directory.ErrorMessage(err)[:len("filter.or[1].not.metadata[0]")] != "filter.or[1].not.metadata[0]" {
		t.Fatalf("err = %v, want one naming filter.or[1].not.metadata[0]", err)
	}
}
