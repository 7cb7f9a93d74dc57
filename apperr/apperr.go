// Package apperr is the one error type the domain packages return for what a caller did wrong or what
// state forbids, with a kind that the HTTP edge maps to a status code (and, for EMV messages, to an
// errorCode). Anything that is not an *Error is an internal fault: logged, and answered without detail.
package apperr

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Kind classifies an error for the caller.
type Kind int

const (
	Internal     Kind = iota // not the caller's fault; no detail leaves the process
	Invalid                  // malformed or missing input; Fields names what
	NotFound                 // no such thing (or not the caller's to see)
	Expired                  // was valid, is no longer
	Locked                   // too many failures; needs a new letter or registration
	AlreadyUsed              // a single-use secret that was consumed
	Conflict                 // the state does not allow it now
	Unavailable              // a dependency (database, HSM) is down; try again later
	Unauthorized             // no or a wrong credential
	Forbidden                // authenticated, but the role does not allow it
	TooMany                  // a limit per card, client or time window is reached; try again later
)

var kindNames = map[Kind]string{
	Internal: "internal", Invalid: "invalid", NotFound: "not_found", Expired: "expired",
	Locked: "locked", AlreadyUsed: "already_used", Conflict: "conflict", Unavailable: "unavailable",
	Unauthorized: "unauthorized", Forbidden: "forbidden", TooMany: "too_many",
}

func (k Kind) String() string { return kindNames[k] }

// Error is a domain error. Msg is safe to show to the caller; it never holds a card number or a secret.
type Error struct {
	Kind   Kind
	Msg    string
	Fields map[string]string // field name (as the caller spelled it) -> problem
	Err    error             // cause, for logs only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Kind, e.Msg, e.Err)
	}
	if len(e.Fields) == 0 {
		return fmt.Sprintf("%s: %s", e.Kind, e.Msg)
	}
	// The field problems say what is wrong, never the value (the house rule for Fields), so the
	// command line may show them.
	names := make([]string, 0, len(e.Fields))
	for f := range e.Fields {
		names = append(names, f)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, f := range names {
		parts[i] = f + " " + e.Fields[f]
	}
	return fmt.Sprintf("%s: %s (%s)", e.Kind, e.Msg, strings.Join(parts, "; "))
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, apperr.NotFound) style checks work through wrapping: a Kind matches any *Error
// of that kind.
func (e *Error) Is(target error) bool {
	var k kindError
	if errors.As(target, &k) {
		return e.Kind == Kind(k)
	}
	return false
}

type kindError Kind

func (k kindError) Error() string { return Kind(k).String() }

// Of returns a sentinel for errors.Is(err, apperr.Of(apperr.Locked)).
func Of(k Kind) error { return kindError(k) }

// New returns an error of a kind with a message for the caller.
func New(k Kind, msg string) *Error { return &Error{Kind: k, Msg: msg} }

// Wrap returns an error of a kind that keeps cause for the log.
func Wrap(k Kind, msg string, cause error) *Error { return &Error{Kind: k, Msg: msg, Err: cause} }

// Field returns an Invalid error naming one field.
func Field(field, problem string) *Error {
	return &Error{Kind: Invalid, Msg: "invalid request", Fields: map[string]string{field: problem}}
}

// KindOf returns the kind of err, Internal for anything that is not an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}
