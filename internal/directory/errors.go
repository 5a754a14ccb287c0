package directory

import (
	"errors"
	"fmt"
)

// Code classifies an error for clients. Both transports (GraphQL and REST) map
// from it, so they can never disagree about what went wrong.
type Code string

// The error codes clients may see.
const (
	CodeUnauthenticated      Code = "UNAUTHENTICATED"
	CodeNoActiveOrganization Code = "NO_ACTIVE_ORGANIZATION"
	CodeForbidden            Code = "FORBIDDEN"
	CodeBadUserInput         Code = "BAD_USER_INPUT"
	CodeUpstreamUnavailable  Code = "UPSTREAM_UNAVAILABLE"
	CodeInternal             Code = "INTERNAL_SERVER_ERROR"
)

// Error is the application error: a code, a message that is safe to show a
// client, and an optional cause that is only ever logged.
type Error struct {
	Code    Code
	Message string
	// Cause is internal detail (upstream bodies, trace ids); never shown to clients.
	Cause error
	// Details are client-safe facts about the error that transports add to
	// it (GraphQL: extensions), such as COUNT_MISMATCH's "matched".
	Details map[string]any
}

// Error implements error. It includes the cause, so it is for logs only;
// clients get Message through ErrorMessage.
func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Errorf returns an *Error with the given code and a formatted client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code and message whose cause is err.
func Wrap(code Code, err error, message string) *Error {
	return &Error{Code: code, Message: message, Cause: err}
}

// ErrorCode returns the code of err: the code of the first *Error in its
// chain, CodeInternal for any other non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the client-safe message of err. Errors that are not
// *Error are masked as "internal error": their text may hold internal detail.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// loggedError marks an error its handler has already logged.
type loggedError struct{ error }

func (e *loggedError) Unwrap() error { return e.error }

// Logged marks err as logged by the layer that decided what to do with it
// (the snapshot cache, for a failed load), so the transports that pass it
// on to a client do not log it again: one failure, one log line. nil stays
// nil.
func Logged(err error) error {
	if err == nil {
		return nil
	}
	return &loggedError{err}
}

// WasLogged reports whether err, or an error it wraps, was marked Logged.
func WasLogged(err error) bool {
	var l *loggedError
	return errors.As(err, &l)
}
