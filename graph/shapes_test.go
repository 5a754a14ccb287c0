package graph

import (
	"fmt"
	"strings"
)

// Query shapes an attacker would send, generated at any size. Each is
// syntactically valid GraphQL.

// fanOut spreads each fragment width times into the one before it, depth
// levels deep: width^depth fields once expanded, from a few hundred bytes.
func fanOut(depth, width int) string {
	var b strings.Builder
	b.WriteString("query { ...F0 }")
	for i := 0; i < depth; i++ {
		fmt.Fprintf(&b, " fragment F%d on Query {", i)
		for j := 0; j < width; j++ {
			fmt.Fprintf(&b, " ...F%d", i+1)
		}
		b.WriteString(" }")
	}
	fmt.Fprintf(&b, " fragment F%d on Query { __typename }", depth)
	return b.String()
}

// aliases selects __typename n times under distinct aliases.
func aliases(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " a%d: __typename", i)
	}
	b.WriteString(" }")
	return b.String()
}

// directives puts n @include directives on one field.
func directives(n int) string {
	return "{ __typename" + strings.Repeat(" @include(if: true)", n) + " }"
}

// repeats selects the same field n times.
func repeats(n int) string {
	return "{" + strings.Repeat(" __typename", n) + " }"
}

// nested nests fields n levels deep (unknown fields: depth is refused
// before validation looks at names).
func nested(n int) string {
	return strings.Repeat("{ a ", n) + strings.Repeat("}", n)
}

// notFilter nests n `not`s in an orgUsers filter literal.
func notFilter(n int) string {
	return "{ orgUsers(filter: " + strings.Repeat("{not: ", n) + "{}" + strings.Repeat("}", n) + ") { totalCount } }"
}

// arguments gives viewer n arguments: many tokens, no fields or aliases.
func arguments(n int) string {
	return "{ viewer(" + strings.Repeat(" a: 1", n) + ") { userId } }"
}

// pages selects n full pages of 1,000 members under aliases.
func pages(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " p%d: orgUsers(first: 1000) { nodes { %s } }", i, allMemberFields)
	}
	b.WriteString(" }")
	return b.String()
}

// allMemberFields is every field of OrgUser.
const allMemberFields = `id email firstName lastName username imageUrl lastSignInAt publicMetadata createdAt role roleName membershipMetadata joinedAt lastActiveAt banned`

// padTo pads a JSON body with whitespace up to n bytes: the body limit costs
// reading and scanning, and shapes are tried at that size.
func padTo(body string, n int) string {
	if len(body) >= n {
		return body
	}
	return body[:len(body)-1] + strings.Repeat(" ", n-len(body)) + "}"
}

// distinct selects n distinct (unknown) fields, each repeated times.
func distinct(n, times int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		for j := 0; j < times; j++ {
			fmt.Fprintf(&b, " f%d", i)
		}
	}
	b.WriteString(" }")
	return b.String()
}
