package events

import (
	"errors"
	"fmt"
)

// Reasons a message cannot become a valid event. They are short and stable because they
// travel in the DLQ header and label metrics; never rename one.
const (
	ReasonMalformed        = "malformed"
	ReasonUnsupportedMode  = "unsupported_mode"
	ReasonMissingAttribute = "missing_attribute"
	ReasonUnknownType      = "unknown_type"
	ReasonInvalidData      = "invalid_data"
	ReasonInvalidSite      = "invalid_site"
	ReasonTooLarge         = "too_large"
	// ReasonOther is what ReasonOf says of an error that did not come from a decoder.
	ReasonOther = "other"
)

// DecodeError is why a message was refused; Err holds the detail (a *FieldError for data
// that breaks a rule).
type DecodeError struct {
	Reason string
	Err    error
}

func (e *DecodeError) Error() string {
	if e.Err == nil {
		return "decode event: " + e.Reason
	}
	return "decode event: " + e.Reason + ": " + e.Err.Error()
}

func (e *DecodeError) Unwrap() error { return e.Err }

func decodeErr(reason string, format string, args ...any) *DecodeError {
	return &DecodeError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// ErrTooLarge is returned (inside a DecodeError with ReasonTooLarge) when an HTTP body is
// over the limit, so the handler can answer 413.
var ErrTooLarge = errors.New("body too large")

// BatchError says which event of an HTTP batch was refused.
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string { return fmt.Sprintf("batch event %d: %v", e.Index, e.Err) }

func (e *BatchError) Unwrap() error { return e.Err }

// ReasonOf returns the DecodeError reason inside err, "" for nil and ReasonOther for
// anything else.
func ReasonOf(err error) string {
	if err == nil {
		return ""
	}
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Reason
	}
	return ReasonOther
}

// HeaderDLQReason is the NATS header that carries ReasonOf(err) on a dead-lettered message.
const HeaderDLQReason = "Dormant-Dlq-Reason"
