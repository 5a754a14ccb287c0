package graph

import (
	"context"
	"maps"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/orgusers/orgusers/internal/bytelru"
)

// MaxValidationErrors bounds the errors one response lists for a document
// that fails validation; the last one says how many more there were.
const MaxValidationErrors = 100

// bytesPerToken is the heap a parsed and validated document keeps per token
// of its text, rounded up (TestQueryCacheEstimateCoversTheHeap measures it).
const bytesPerToken = 200

// preparer turns a query text into a parsed, bounded and validated document,
// and keeps the documents it made in a cache bounded by bytes. It is the
// only path from text to document: the HTTP transport calls it before gqlgen
// sees the request, and as gqlgen's query cache it hands gqlgen the result;
// the guard extension calls it too, for any other transport.
type preparer struct {
	schema      *ast.Schema
	limits      Limits
	suggestions bool
	docs        *bytelru.Cache[string, prepared]
}

// prepare returns the validated document for query. Errors (at most
// MaxValidationErrors) carry QUERY_TOO_LARGE, TOO_MANY_ALIASES,
// TOO_MANY_DIRECTIVES, TOO_MANY_FIELDS, QUERY_TOO_DEEP, GRAPHQL_PARSE_FAILED
// or GRAPHQL_VALIDATION_FAILED. Every limit is checked before validation, in
// time linear in the text, so no text costs more than the limits allow.
func (p *preparer) prepare(query string) (*ast.QueryDocument, gqlerror.List) {
	return p.prepareCounting(query, &work{})
}

// work counts what one prepare did, for tests that bound it.
type work struct {
	scannedBytes   int // query bytes lexed without parsing
	parsedTokens   int // tokens handed to the parser
	analyzed       int // selections the analysis visited
	merged         int // selections expanded to count repeats
	validated      int // fields (fragments expanded) handed to validation
	maxRepeats     int // the most selections one validated response field merged
	fromQueryCache bool
}

func (p *preparer) prepareCounting(query string, w *work) (*ast.QueryDocument, gqlerror.List) {
	small := len(query) <= p.limits.MaxQueryBytes // a longer text is refused without looking
	if small {
		if e, ok := p.docs.Get(query); ok {
			w.fromQueryCache = true
			return e.doc, cloneErrors(e.errs)
		}
	}
	doc, errs := p.parseAndCheck(query, w)
	if small && w.parsedTokens > 0 {
		// Refusals after parsing are kept too: an attacker repeating the
		// costliest document pays for it once. (One the text scan refused
		// costs less than keeping it would.)
		size := 2 * len(query)
		if errs == nil {
			size += bytesPerToken * w.parsedTokens
		}
		p.docs.Add(query, prepared{doc, errs}, size+256*len(errs))
	}
	return doc, cloneErrors(errs)
}

// prepared is a query cache entry: a validated document, or the errors
// that refused its text.
type prepared struct {
	doc  *ast.QueryDocument
	errs gqlerror.List
}

// cloneErrors copies cached errors, which every request's error presenter
// may change (its message, extensions and path).
func cloneErrors(errs gqlerror.List) gqlerror.List {
	if errs == nil {
		return nil
	}
	out := make(gqlerror.List, len(errs))
	for i, e := range errs {
		c := *e
		c.Extensions = maps.Clone(e.Extensions)
		out[i] = &c
	}
	return out
}

func (p *preparer) parseAndCheck(query string, w *work) (*ast.QueryDocument, gqlerror.List) {
	if len(query) <= p.limits.MaxQueryBytes {
		w.scannedBytes = len(query)
	}
	tokens, err := p.limits.checkText(query)
	if err != nil {
		return nil, gqlerror.List{err}
	}
	w.parsedTokens = tokens
	// checkText counted the tokens; the parser's own limit is a last resort
	// against a text the two count differently.
	doc, perr := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, 2*p.limits.MaxTokens)
	if perr != nil {
		gqlErr, ok := perr.(*gqlerror.Error)
		if !ok {
			gqlErr = gqlerror.Errorf("the query could not be parsed")
		}
		errcode.Set(gqlErr, errcode.ParseFailed)
		return nil, gqlerror.List{gqlErr}
	}
	if len(doc.Operations) == 0 {
		return nil, gqlerror.List{validationError(nil, "no operation provided")}
	}
	if err := p.limits.checkDocument(doc, w); err != nil {
		return nil, gqlerror.List{err}
	}
	budget := &errorBudget{left: MaxValidationErrors - 1}
	if errs := validator.ValidateWithRules(p.schema, doc, p.rules(budget)); len(errs) > 0 {
		if budget.dropped > 0 {
			errs = append(errs, gqlerror.Errorf("and %d more validation errors", budget.dropped))
		}
		for _, e := range errs {
			errcode.Set(e, errcode.ValidationFailed)
		}
		return nil, errs
	}
	return doc, nil
}

// rules are gqlparser's default validation rules, without suggestions
// ("Did you mean ...?") when introspection is off: they would hand the schema
// to anyone who guesses near it. Every rule reports through budget, which
// drops errors past the cap before their messages are even formatted.
func (p *preparer) rules(budget *errorBudget) *rules.Rules {
	r := rules.NewDefaultRules()
	if !p.suggestions {
		r.RemoveRule("FieldsOnCorrectType")
		r.AddRule(rules.FieldsOnCorrectTypeRuleWithoutSuggestions.Name, rules.FieldsOnCorrectTypeRuleWithoutSuggestions.RuleFunc)
		r.RemoveRule("ScalarLeafs")
		r.AddRule(rules.ScalarLeafsRuleWithoutSuggestions.Name, rules.ScalarLeafsRuleWithoutSuggestions.RuleFunc)
	}
	for name, rule := range r.GetInner() {
		r.ReplaceRule(name, func(events *core.Events, addError core.AddErrFunc) {
			rule(events, func(options ...core.ErrorOption) {
				if budget.left == 0 {
					budget.dropped++
					return
				}
				budget.left--
				addError(options...)
			})
		})
	}
	return r
}

// errorBudget counts the validation errors one document may still report,
// and those it could not.
type errorBudget struct{ left, dropped int }

// queryCache is the preparer's cache as gqlgen's query cache: gqlgen finds
// every document prepare accepted there and skips its own parsing and
// validation. A document gqlgen parses itself (one evicted between prepare
// and gqlgen's lookup) is not stored: only prepare adds.
type queryCache struct{ p *preparer }

var _ graphql.Cache[*ast.QueryDocument] = queryCache{}

func (c queryCache) Get(_ context.Context, query string) (*ast.QueryDocument, bool) {
	e, ok := c.p.docs.Get(query)
	return e.doc, ok && e.doc != nil
}

func (c queryCache) Add(context.Context, string, *ast.QueryDocument) {}

// guard is the gqlgen extension that holds every operation to the limits,
// whatever transport brought it: before parsing, it prepares the text (for
// the HTTP transport a cache hit, since the transport prepared it already);
// after variables are coerced, it checks argument ranges and the cost.
type guard struct {
	p  *preparer
	es graphql.ExecutableSchema
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
	graphql.OperationContextMutator
} = (*guard)(nil)

func (g *guard) ExtensionName() string { return "OperationGuard" }

func (g *guard) Validate(es graphql.ExecutableSchema) error {
	g.es = es
	return nil
}

// MutateOperationParameters refuses a text that breaks a limit or fails
// validation, with its first error.
func (g *guard) MutateOperationParameters(_ context.Context, params *graphql.RawParams) *gqlerror.Error {
	if _, errs := g.p.prepare(params.Query); len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// MutateOperationContext refuses an argument outside its range
// (BAD_USER_INPUT) and then an operation costing more than MaxCost
// (QUERY_TOO_COMPLEX).
func (g *guard) MutateOperationContext(ctx context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	cost, err := operationCost(ctx, g.es, opCtx.Operation, opCtx.Variables)
	if err != nil {
		return err
	}
	if max := g.p.limits.MaxCost; cost > max {
		return limitError(CodeQueryTooComplex, "the operation costs %s; at most %d is allowed (each field costs 1, and orgUsers costs its selection times first)", satString(cost), max)
	}
	return nil
}
