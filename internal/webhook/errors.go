// Package webhook receives Clerk's webhooks: it verifies Svix signatures,
// decodes Clerk events into directory.Changes and hands them to a Sink. It
// knows nothing about caches; server.go wires the Sink to whatever applies
// changes.
package webhook

// Error is what every function of this package returns when a secret, a
// delivery or an event is refused. Message names what was wrong and is safe
// to show the sender: it never holds the body, a secret or a signature.
type Error struct {
	Message string
}

// Error implements error; it returns Message.
func (e *Error) Error() string { return e.Message }

func newError(msg string) *Error { return &Error{Message: msg} }
