package graph

import (
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Limits bound what one GraphQL document may cost before it executes. Every
// limit is checked before gqlgen validates the document, in time linear in
// the document's length, and each has its own extensions.code so the caller
// learns which one was hit. The zero value of a field means its default.
type Limits struct {
	// MaxQueryBytes bounds the length of the query text (QUERY_TOO_LARGE).
	MaxQueryBytes int
	// MaxTokens bounds the lexical tokens (comments included) of the query
	// text (QUERY_TOO_LARGE). It keeps the parser's work small; the other
	// limits are checked first, on the raw text, so a document that breaks
	// one of them hears about that limit rather than this one.
	MaxTokens int
	// MaxDepth bounds how deeply fields nest, fragments expanded
	// (QUERY_TOO_DEEP). Introspection's __schema and __type subtrees do not
	// count, so GraphiQL's schema query works when introspection is on.
	MaxDepth int
	// MaxValueDepth bounds how deeply an argument value (a filter literal)
	// nests lists and objects (QUERY_TOO_DEEP).
	MaxValueDepth int
	// MaxAliases bounds aliased fields, fragments expanded (TOO_MANY_ALIASES).
	MaxAliases int
	// MaxDirectives bounds directive uses, fragments expanded (TOO_MANY_DIRECTIVES).
	MaxDirectives int
	// MaxFields bounds fields, fragments expanded (TOO_MANY_FIELDS).
	MaxFields int
	// MaxFieldRepeats bounds how many selections one response field merges,
	// fragments expanded: `{ id id id }` selects id three times
	// (TOO_MANY_FIELDS). Validation compares the selections of one response
	// field pairwise, so repeats are what make it quadratic.
	MaxFieldRepeats int
	// MaxCost bounds the operation's cost as gqlgen's complexity counts it,
	// with orgUsers' selection multiplied by `first` (QUERY_TOO_COMPLEX).
	MaxCost int
}

// Defaults for Limits. Depth, aliases and directives are graphql-armor's
// defaults or close to them; the others are far above what the product's
// own clients send (a full orgUsers page with every field is about 50 fields
// and 250 tokens; GraphiQL's introspection query about 1,000 tokens).
const (
	DefaultMaxQueryBytes   = 64 << 10
	DefaultMaxTokens       = 2_000
	DefaultMaxDepth        = 8
	DefaultMaxValueDepth   = 32
	DefaultMaxAliases      = 30
	DefaultMaxDirectives   = 50
	DefaultMaxFields       = 2_000
	DefaultMaxFieldRepeats = 10
	// DefaultMaxCost admits one orgUsers(first: 1000) page with every field
	// on both nodes and edges, and rejects multiples of it.
	DefaultMaxCost = 50_000
)

// The extensions.code of each limit.
const (
	CodeQueryTooLarge     = "QUERY_TOO_LARGE"
	CodeQueryTooComplex   = "QUERY_TOO_COMPLEX"
	CodeQueryTooDeep      = "QUERY_TOO_DEEP"
	CodeTooManyAliases    = "TOO_MANY_ALIASES"
	CodeTooManyDirectives = "TOO_MANY_DIRECTIVES"
	CodeTooManyFields     = "TOO_MANY_FIELDS"
)

func init() {
	// Like parse and validation failures: the request is refused as a whole
	// (HTTP 422, or 400 for application/graphql-response+json).
	for _, c := range []string{CodeQueryTooLarge, CodeQueryTooComplex, CodeQueryTooDeep, CodeTooManyAliases, CodeTooManyDirectives, CodeTooManyFields} {
		errcode.RegisterErrorType(c, errcode.KindProtocol)
	}
}

// withDefaults returns l with every zero field set to its default.
func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MaxQueryBytes, DefaultMaxQueryBytes)
	def(&l.MaxTokens, DefaultMaxTokens)
	def(&l.MaxDepth, DefaultMaxDepth)
	def(&l.MaxValueDepth, DefaultMaxValueDepth)
	def(&l.MaxAliases, DefaultMaxAliases)
	def(&l.MaxDirectives, DefaultMaxDirectives)
	def(&l.MaxFields, DefaultMaxFields)
	def(&l.MaxFieldRepeats, DefaultMaxFieldRepeats)
	def(&l.MaxCost, DefaultMaxCost)
	return l
}

// limitError is the GraphQL error for a limit that was hit.
func limitError(code, format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	errcode.Set(err, code)
	return err
}

// textCounts are what a lexical scan of a query text counts, without parsing.
type textCounts struct {
	tokens, fields, aliases, directives int
}

// scanText counts the tokens, fields, aliases and directive uses of a query
// text as written (fragments not expanded) in one pass over its bytes,
// stopping at the first count past its limit in l (nil: no limits), which
// it returns as the error. For a text the parser accepts, the counts equal
// those of its syntax tree (tests and the fuzz target hold them to it); for
// any other text they are still bounded and the parser reports the syntax
// error.
//
// The grammar makes this possible without a parser: arguments, variable
// definitions and every object or list value sit inside parentheses, so at
// parenthesis depth 0 inside braces a name is a field, an alias (a name
// followed by ':'), a fragment name (after '...') or a type condition (after
// 'on'); '@' starts a directive wherever it appears.
func scanText(s string, l *Limits) (textCounts, *gqlerror.Error) {
	var c textCounts
	parens, braces := 0, 0
	const (
		plain = iota
		afterSpread
		afterOn
		afterAt
	)
	state := plain
	pendingField := false // the last token was a name that is a field unless ':' follows
	for i := 0; i < len(s); {
		b := s[i]
		switch {
		case b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == ',':
			i++
			continue
		case b == 0xEF && i+2 < len(s) && s[i+1] == 0xBB && s[i+2] == 0xBF: // byte order mark
			i += 3
			continue
		}
		if pendingField {
			pendingField = false
			if b == ':' && parens == 0 {
				c.aliases++ // the name was an alias; the name after it is the field
			} else {
				c.fields++
			}
		}
		if l != nil {
			if err := l.crossed(c, false); err != nil {
				return c, err
			}
		}
		c.tokens++
		switch {
		case b == '#':
			for i < len(s) && s[i] != '\n' && s[i] != '\r' {
				i++
			}
			continue // a comment is work for the lexer: it counts as a token
		case b == '"':
			i = skipString(s, i)
			state = plain
			continue
		case isNameStart(b):
			j := i + 1
			for j < len(s) && isNameContinue(s[j]) {
				j++
			}
			name := s[i:j]
			i = j
			if parens > 0 || braces == 0 {
				state = plain
				continue
			}
			switch state {
			case afterSpread:
				if name == "on" {
					state = afterOn
				} else {
					state = plain // a fragment name
				}
			case afterOn, afterAt:
				state = plain // a type condition or a directive name
			default:
				pendingField = true
			}
			continue
		case b == '-' || (b >= '0' && b <= '9'):
			i++
			for i < len(s) && (isNameContinue(s[i]) || s[i] == '.' || s[i] == '+' || s[i] == '-') {
				i++
			}
			state = plain
			continue
		}
		i++
		switch b {
		case '.':
			for k := 0; k < 2 && i < len(s) && s[i] == '.'; k++ {
				i++
			}
			if parens == 0 && braces > 0 {
				state = afterSpread
			}
			continue
		case '@':
			c.directives++
			state = afterAt
			continue
		case '(':
			parens++
		case ')':
			parens = max(parens-1, 0)
		case '{':
			if parens == 0 {
				braces++
			}
		case '}':
			if parens == 0 {
				braces = max(braces-1, 0)
			}
		}
		state = plain
	}
	if pendingField {
		c.fields++
	}
	if l != nil {
		return c, l.crossed(c, true)
	}
	return c, nil
}

// crossed returns the error of the first count in c past its limit. The
// token limit speaks only at the end of the text, so that a text with too
// many aliases hears about those even when it also has too many tokens.
func (l *Limits) crossed(c textCounts, end bool) *gqlerror.Error {
	switch {
	case c.aliases > l.MaxAliases:
		return limitError(CodeTooManyAliases, "the query has more than %d aliases", l.MaxAliases)
	case c.directives > l.MaxDirectives:
		return limitError(CodeTooManyDirectives, "the query has more than %d directives", l.MaxDirectives)
	case c.fields > l.MaxFields:
		return limitError(CodeTooManyFields, "the query has more than %d fields", l.MaxFields)
	case end && c.tokens > l.MaxTokens:
		return limitError(CodeQueryTooLarge, "the query has %d tokens; at most %d are allowed", c.tokens, l.MaxTokens)
	}
	return nil
}

// skipString returns the index just past the string or block string that
// starts at s[i] == '"' (or len(s) when it is unterminated).
func skipString(s string, i int) int {
	if len(s)-i >= 3 && s[i+1] == '"' && s[i+2] == '"' {
		for j := i + 3; j < len(s); j++ {
			switch {
			case s[j] == '\\' && len(s)-j >= 4 && s[j+1] == '"' && s[j+2] == '"' && s[j+3] == '"':
				j += 3
			case s[j] == '"' && len(s)-j >= 3 && s[j+1] == '"' && s[j+2] == '"':
				return j + 3
			}
		}
		return len(s)
	}
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"', '\n', '\r':
			return j + 1
		}
	}
	return len(s)
}

func isNameStart(b byte) bool {
	return b == '_' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')
}

func isNameContinue(b byte) bool {
	return isNameStart(b) || (b >= '0' && b <= '9')
}

// checkText applies the limits that the raw text alone decides, before
// parsing, in one scan of at most MaxQueryBytes: its length, then the
// aliases, directives and fields as written (an operation's expanded counts
// are at least these), each as soon as the scan passes it, and last the
// tokens. The limits that name what the caller wrote come first: 2,400
// aliases are TOO_MANY_ALIASES, although they are also too many tokens. It
// returns the token count.
func (l Limits) checkText(query string) (int, *gqlerror.Error) {
	if len(query) > l.MaxQueryBytes {
		return 0, limitError(CodeQueryTooLarge, "the query is %d bytes long; at most %d are allowed", len(query), l.MaxQueryBytes)
	}
	c, err := scanText(query, &l)
	return c.tokens, err
}
