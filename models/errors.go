package models

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Kind classifies an Error; handlers map each Kind to one HTTP status.
type Kind int

// The kinds of error a service or repository can return.
const (
	KindInternal Kind = iota
	KindInvalid
	KindUnauthenticated
	KindForbidden
	KindStepUpRequired
	KindNotFound
	KindConflict
	KindLocked
	KindRateLimited
	// KindUnavailable is a dependency (the database, Redis) that cannot be
	// reached or did not answer within its deadline: 503 with Retry-After.
	KindUnavailable
)

func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindUnauthenticated:
		return "unauthenticated"
	case KindForbidden:
		return "forbidden"
	case KindStepUpRequired:
		return "step_up_required"
	case KindNotFound:
		return "not_found"
	case KindConflict:
		return "conflict"
	case KindLocked:
		return "locked"
	case KindRateLimited:
		return "rate_limited"
	case KindUnavailable:
		return "unavailable"
	default:
		return "internal"
	}
}

// Error is the one error type of the project. Code is a stable machine code,
// Msg a sentence that is safe to show to users, Fields the per-field problems
// of a validation error, and Err the cause, which is logged but never rendered.
type Error struct {
	Kind   Kind
	Code   string
	Msg    string
	Fields map[string]string
	// RetryAfter tells a rate-limited or locked caller when to try again.
	RetryAfter time.Duration
	// RequiredPermission names the permission a Forbidden error lacks.
	RequiredPermission string
	// StepUp tells a StepUpRequired caller how to elevate.
	StepUp *StepUpInfo
	Err    error
}

// Error implements error. It never includes the cause's text, so an Error can
// be shown without leaking what lies beneath it.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Msg, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Msg)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches another *Error on Kind and Code, so callers can compare with a
// freshly built value: errors.Is(err, models.ErrNotFound("")).
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Kind == e.Kind && (t.Code == "" || t.Code == e.Code)
}

// LogValue renders the error for slog without the user message's duplicates.
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("kind", e.Kind.String()), slog.String("code", e.Code)}
	if e.Err != nil {
		attrs = append(attrs, slog.String("cause", e.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// LogLevel is the level at which the error deserves to be logged (the HTTP
// layer's errorHandler logs every Error at it): Error for the server's own
// failures and outages, Warn for lockouts and rate limits (someone may be
// guessing), Info for the rest, which are the caller's mistakes.
func (e *Error) LogLevel() slog.Level {
	switch e.Kind {
	case KindInternal, KindUnavailable:
		return slog.LevelError
	case KindLocked, KindRateLimited:
		return slog.LevelWarn
	default:
		return slog.LevelInfo
	}
}

// ErrNotFound reports a missing object; what names it ("user", "client").
func ErrNotFound(what string) *Error {
	if what == "" {
		return &Error{Kind: KindNotFound, Msg: "Not found."}
	}
	return &Error{Kind: KindNotFound, Code: what + "_not_found", Msg: "The " + what + " was not found."}
}

// ErrInvalid reports a validation failure with one entry per bad field.
func ErrInvalid(fields map[string]string) *Error {
	return &Error{Kind: KindInvalid, Code: CodeValidationFailed, Msg: "The request is not valid.", Fields: fields}
}

// ErrInternal wraps an unexpected failure; its cause is logged, never shown.
func ErrInternal(cause error) *Error {
	return &Error{Kind: KindInternal, Code: CodeInternal, Msg: "Something went wrong on our side.", Err: cause}
}

// IsKind reports whether err is an *Error of the given kind.
func IsKind(err error, kind Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == kind
}

// ErrRateLimited reports too many attempts; retry after d.
func ErrRateLimited(d time.Duration) *Error {
	return &Error{Kind: KindRateLimited, Code: CodeRateLimited, Msg: "Too many attempts. Wait a moment and try again.", RetryAfter: d}
}

// StepUpInfo is the step_up member of a step_up_required error.
type StepUpInfo struct {
	RequestEndpoint string `json:"request_endpoint"`
	StatusEndpoint  string `json:"status_endpoint"`
	TTLSeconds      int    `json:"ttl_seconds"`
}

// UnavailableRetryAfter is what a 503 tells the caller to wait.
const UnavailableRetryAfter = 2 * time.Second

// ErrUnavailable reports a dependency that cannot be reached or did not
// answer in time; what names it ("database", "redis"). The caller should
// retry after RetryAfter; the cause is logged, never shown.
func ErrUnavailable(what string, cause error) *Error {
	return &Error{Kind: KindUnavailable, Code: CodeUnavailable,
		Msg: "The service is temporarily unavailable. Try again shortly.", RetryAfter: UnavailableRetryAfter,
		Fields: nil, Err: fmt.Errorf("%s unavailable: %w", what, cause)}
}

// IsUnavailable reports whether any error in err's chain is an Error of
// KindUnavailable, even beneath another Error (an Internal error wrapping an
// unreachable database is still an outage, not a bug).
func IsUnavailable(err error) bool {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return false
		}
		if e.Kind == KindUnavailable {
			return true
		}
		err = e.Err
	}
	return false
}
