package rest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"unicode"

	"github.com/orgusers/orgusers/internal/directory"
)

// isoMillis is the timestamp format of the REST contract: ISO 8601 in UTC
// with milliseconds, as JavaScript's Date.toISOString writes it.
const isoMillis = "2006-01-02T15:04:05.000Z"

// row is one member in the REST contract; the field order is the key order.
type row struct {
	ID             string          `json:"id"`
	Email          *string         `json:"email"`
	FirstName      *string         `json:"firstName"`
	LastName       *string         `json:"lastName"`
	Username       *string         `json:"username"`
	ImageURL       *string         `json:"imageUrl"`
	LastSignInAt   *string         `json:"lastSignInAt"`
	PublicMetadata json.RawMessage `json:"publicMetadata"`
	CreatedAt      string          `json:"createdAt"`
	Role           string          `json:"role"`
}

// csvHeader is the CSV header line; the columns are row's fields.
var csvHeader = []string{"id", "email", "firstName", "lastName", "username", "imageUrl", "lastSignInAt", "publicMetadata", "createdAt", "role"}

func toRow(m *directory.Member) row {
	r := row{
		ID: m.UserID, Email: m.Email, FirstName: m.FirstName, LastName: m.LastName,
		Username: m.Username, ImageURL: m.ImageURL, PublicMetadata: m.PublicMetadata,
		CreatedAt: m.CreatedAt.UTC().Format(isoMillis), Role: m.Role,
	}
	if m.LastSignInAt != nil {
		s := m.LastSignInAt.UTC().Format(isoMillis)
		r.LastSignInAt = &s
	}
	if len(r.PublicMetadata) == 0 {
		r.PublicMetadata = json.RawMessage("{}")
	}
	return r
}

// encodeJSON writes the members as a JSON array, one row at a time.
func encodeJSON(buf *bytes.Buffer, members []*directory.Member) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	buf.WriteByte('[')
	for i, m := range members {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(toRow(m)); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
	}
	buf.WriteString("]\n")
	return nil
}

// encodeCSV writes a header line and one line per member; absent values are
// empty cells and publicMetadata is its JSON text.
func encodeCSV(buf *bytes.Buffer, members []*directory.Member) error {
	w := csv.NewWriter(buf)
	if err := w.Write(csvHeader); err != nil {
		return err
	}
	rec := make([]string, len(csvHeader))
	for _, m := range members {
		r := toRow(m)
		rec[0], rec[1], rec[2], rec[3] = r.ID, deref(r.Email), deref(r.FirstName), deref(r.LastName)
		rec[4], rec[5], rec[6] = deref(r.Username), deref(r.ImageURL), deref(r.LastSignInAt)
		rec[7], rec[8], rec[9] = string(r.PublicMetadata), r.CreatedAt, r.Role
		for i := range rec {
			rec[i] = neutralizeFormula(rec[i])
		}
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}

// neutralizeFormula keeps a spreadsheet from running a cell as a formula:
// users edit their own names in Clerk, so a first name like =HYPERLINK(...)
// would run when an admin opens the export. A cell gets a leading apostrophe
// (OWASP's advice for CSV injection) when it starts with a tab or a carriage
// return, or when its first character after any leading white space is
// = + - @ or their fullwidth forms ＝ ＋ － ＠, which spreadsheets may read
// the same way. White space is Unicode's (newlines and non-breaking spaces
// included) plus the invisible U+200B, U+2060 and U+FEFF (BOM). Every other
// cell is unchanged.
func neutralizeFormula(s string) string {
	if s == "" {
		return s
	}
	if s[0] == '\t' || s[0] == '\r' {
		return "'" + s
	}
	for _, r := range s {
		if strings.ContainsRune(formulaStarts, r) {
			return "'" + s
		}
		if !isLeadingSpace(r) {
			return s
		}
	}
	return s
}

// formulaStarts are the characters a spreadsheet may take as the start of a
// formula: = + - @ and their fullwidth forms.
const formulaStarts = "=+-@\uFF1D\uFF0B\uFF0D\uFF20"

// isLeadingSpace reports whether r may come before a formula character
// without stopping a spreadsheet from reading the cell as a formula.
func isLeadingSpace(r rune) bool {
	return unicode.IsSpace(r) || r == '\u200B' || r == '\u2060' || r == '\uFEFF'
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
