package graph

import (
	"testing"

	"github.com/orgusers/orgusers/graph/model"
	"github.com/orgusers/orgusers/internal/directory"
)

func TestToFilterNamesTheBadNestedCondition(t *testing.T) {
	in := &model.OrgUserFilter{Or: []*model.OrgUserFilter{{}, {Not: &model.OrgUserFilter{Metadata: []map[string]any{{"path": "a"}}}}}}
	_, err := toFilter(in, "filter")
	if err == nil || directory.ErrorMessage(err)[:len("filter.or[1].not.metadata[0]")] != "filter.or[1].not.metadata[0]" {
		t.Fatalf("err = %v, want one naming filter.or[1].not.metadata[0]", err)
	}
}
