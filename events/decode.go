package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// Decode turns an event into its typed data: it looks the type up, unmarshals the JSON
// data (unknown fields are ignored so older consumers read newer producers; wrong types are
// errors), validates it, and checks the site extension of per-site types. Every error is a
// *DecodeError; for rule violations it wraps the *FieldErrors.
func Decode(e cloudevents.Event) (Data, error) {
	t := e.Type()
	d, ok := NewData(t)
	if !ok {
		return nil, decodeErr(ReasonUnknownType, "type %q", t)
	}
	if !isJSON(e.DataContentType()) {
		return nil, decodeErr(ReasonUnsupportedMode, "%s: data content type %q is not JSON", t, e.DataContentType())
	}
	raw := bytes.TrimSpace(e.Data())
	if len(raw) == 0 {
		return nil, &DecodeError{Reason: ReasonInvalidData, Err: &FieldError{Field: "data", Problem: "is required"}}
	}
	if raw[0] != '{' {
		return nil, &DecodeError{Reason: ReasonInvalidData, Err: &FieldError{Field: "data", Problem: "must be a JSON object"}}
	}
	if !json.Valid(raw) {
		return nil, decodeErr(ReasonMalformed, "%s data is not valid JSON", t)
	}
	if !utf8.Valid(raw) {
		// JSON is UTF-8 (RFC 8259); encoding/json would quietly turn the bad bytes into U+FFFD.
		return nil, decodeErr(ReasonMalformed, "%s data is not valid UTF-8", t)
	}
	if err := json.Unmarshal(raw, d); err != nil {
		// The JSON is well formed, so the data itself is wrong: a value of the wrong type.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, &DecodeError{Reason: ReasonInvalidData, Err: &FieldError{Field: te.Field, Problem: "must be " + jsonKind(te.Type.Kind().String())}}
		}
		return nil, &DecodeError{Reason: ReasonInvalidData, Err: fmt.Errorf("%s data: %w", t, err)}
	}
	if err := d.Validate(); err != nil {
		return nil, &DecodeError{Reason: ReasonInvalidData, Err: err}
	}
	if PerSite(t) && !ValidSite(Site(e)) {
		return nil, decodeErr(ReasonInvalidSite, "site %q: must match %s", Site(e), sitePattern)
	}
	return d, nil
}

// DecodeAs decodes e and checks it carries T, such as *UserSession.
func DecodeAs[T Data](e cloudevents.Event) (T, error) {
	var zero T
	d, err := Decode(e)
	if err != nil {
		return zero, err
	}
	v, ok := d.(T)
	if !ok {
		return zero, decodeErr(ReasonUnknownType, "type %q does not carry %T", e.Type(), zero)
	}
	return v, nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int64", "int32":
		return "an integer"
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "a " + goKind
}
