package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"sort"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
)

// Content types of the CloudEvents JSON formats.
const (
	ContentTypeStructured = "application/cloudevents+json"
	ContentTypeBatch      = "application/cloudevents-batch+json"
)

// attrs are the context attributes of a binary-mode message, keyed by lower-case name
// without the ce- prefix; contentType is the data's content type, from whichever header
// carried it.
type attrs struct {
	values      map[string]string
	contentType string
}

// toEvent builds an event from binary-mode attributes and data.
func (a attrs) toEvent(data []byte) (cloudevents.Event, error) {
	e := cloudevents.NewEvent(cloudevents.VersionV1)
	sv := a.values["specversion"]
	if sv == "" {
		return e, decodeErr(ReasonMissingAttribute, "specversion is required")
	}
	if sv != cloudevents.VersionV1 {
		return e, decodeErr(ReasonUnsupportedMode, "specversion %q: only 1.0 is supported", sv)
	}
	for _, name := range []string{"id", "source", "type"} {
		if a.values[name] == "" {
			return e, decodeErr(ReasonMissingAttribute, "%s is required", name)
		}
	}
	// Sorted so that, when several headers are wrong, the error names the same one each time.
	names := make([]string, 0, len(a.values))
	for k := range a.values {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		v := a.values[name]
		switch name {
		case "specversion":
		case "id":
			e.SetID(v)
		case "source":
			e.SetSource(v)
		case "type":
			e.SetType(v)
		case "subject":
			e.SetSubject(v)
		case "dataschema":
			e.SetDataSchema(v)
		case "datacontenttype":
			// Taken from attrs.contentType, which already settled between the two headers.
		case "time":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return e, decodeErr(ReasonMalformed, "time %q: %v", v, err)
			}
			e.SetTime(t)
		default:
			e.SetExtension(name, v)
		}
	}
	if a.contentType != "" {
		e.SetDataContentType(a.contentType)
	}
	if len(data) > 0 {
		e.DataEncoded = data
	}
	if err := e.Validate(); err != nil {
		return e, &DecodeError{Reason: ReasonMalformed, Err: err}
	}
	return e, nil
}

// parseStructured reads one event in the JSON format.
func parseStructured(body []byte) (cloudevents.Event, error) {
	var probe struct {
		SpecVersion *string `json:"specversion"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return cloudevents.Event{}, decodeErr(ReasonMalformed, "structured event: %v", err)
	}
	if probe.SpecVersion == nil || *probe.SpecVersion == "" {
		return cloudevents.Event{}, decodeErr(ReasonMissingAttribute, "specversion is required")
	}
	if *probe.SpecVersion != cloudevents.VersionV1 {
		return cloudevents.Event{}, decodeErr(ReasonUnsupportedMode, "specversion %q: only 1.0 is supported", *probe.SpecVersion)
	}
	var e cloudevents.Event
	if err := json.Unmarshal(body, &e); err != nil {
		return e, decodeErr(ReasonMalformed, "structured event: %v", err)
	}
	for _, a := range [][2]string{{"id", e.ID()}, {"source", e.Source()}, {"type", e.Type()}} {
		if a[1] == "" {
			return e, decodeErr(ReasonMissingAttribute, "%s is required", a[0])
		}
	}
	if err := e.Validate(); err != nil {
		return e, &DecodeError{Reason: ReasonMalformed, Err: err}
	}
	return e, nil
}

// mediaType returns the lower-case media type of a Content-Type value without parameters.
func mediaType(ct string) string {
	switch ct {
	case "":
		return ""
	case ContentTypeJSON, ContentTypeStructured, ContentTypeBatch:
		// What dormant and the SDK send, exactly: no parameters to parse.
		return ct
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		// A broken parameter list still names the type before the first semicolon.
		mt, _, _ = strings.Cut(ct, ";")
	}
	return strings.ToLower(strings.TrimSpace(mt))
}

// isJSON reports whether a data content type carries JSON; empty means JSON by the spec.
func isJSON(ct string) bool {
	mt := mediaType(ct)
	return mt == "" || mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// looksStructured reports whether a body is a JSON object naming a specversion, which is
// how a structured event is recognised when a publisher sent no content type.
func looksStructured(body []byte) bool {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return false
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(body, &probe) != nil {
		return false
	}
	_, ok := probe["specversion"]
	return ok
}

// structuredJSON renders e in the JSON format; used for structured and batch output.
func structuredJSON(e cloudevents.Event) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.ID(), err)
	}
	return b, nil
}

// headerValue formats an attribute or extension value as a header string.
func headerValue(v any) (string, error) {
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	if t, ok := v.(types.Timestamp); ok {
		return t.Time.UTC().Format(time.RFC3339Nano), nil
	}
	return types.Format(v)
}

// binaryHeaders lists the ce- attributes of e as (name, value) pairs, names lower-case
// without prefix, in a fixed order.
func binaryHeaders(e event.Event) ([][2]string, error) {
	out := [][2]string{
		{"specversion", e.SpecVersion()},
		{"id", e.ID()},
		{"source", e.Source()},
		{"type", e.Type()},
	}
	if s := e.Subject(); s != "" {
		out = append(out, [2]string{"subject", s})
	}
	if t := e.Time(); !t.IsZero() {
		out = append(out, [2]string{"time", t.UTC().Format(time.RFC3339Nano)})
	}
	if s := e.DataSchema(); s != "" {
		out = append(out, [2]string{"dataschema", s})
	}
	ext := e.Extensions()
	names := make([]string, 0, len(ext))
	for k := range ext {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v, err := headerValue(ext[k])
		if err != nil {
			return nil, fmt.Errorf("extension %s: %w", k, err)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}
