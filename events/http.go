package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// FromHTTP reads the CloudEvents of an HTTP request in binary mode (Ce- headers),
// structured mode (application/cloudevents+json) or batch mode
// (application/cloudevents-batch+json). A body over maxBytes gives an error matching
// ErrTooLarge (answer 413); a refused batch member gives a *BatchError naming its index.
// It checks envelopes only; Decode each event for its data.
func FromHTTP(r *http.Request, maxBytes int64) ([]cloudevents.Event, error) {
	body, err := readLimited(r, maxBytes)
	if err != nil {
		return nil, err
	}
	a := attrs{values: map[string]string{}}
	binary := false
	for k, vs := range r.Header {
		if len(vs) == 0 {
			continue
		}
		lk := strings.ToLower(k)
		if name, ok := strings.CutPrefix(lk, cePrefix); ok {
			binary = true
			a.values[name] = vs[0]
		}
	}
	ct := r.Header.Get("Content-Type")
	mt := mediaType(ct)
	switch {
	case mt == ContentTypeStructured:
		e, err := parseStructured(body)
		if err != nil {
			return nil, err
		}
		return []cloudevents.Event{e}, nil
	case mt == ContentTypeBatch:
		return parseBatch(body)
	case binary:
		// The HTTP binding puts datacontenttype in Content-Type; a Ce-Datacontenttype
		// from a client that copied the NATS habit is accepted when Content-Type is absent.
		a.contentType = ct
		if a.contentType == "" {
			a.contentType = a.values["datacontenttype"]
		}
		e, err := a.toEvent(body)
		if err != nil {
			return nil, err
		}
		return []cloudevents.Event{e}, nil
	default:
		return nil, decodeErr(ReasonUnsupportedMode, "no Ce- headers and content type %q", ct)
	}
}

func readLimited(r *http.Request, maxBytes int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if r.ContentLength > maxBytes {
		return nil, &DecodeError{Reason: ReasonTooLarge, Err: fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, r.ContentLength, maxBytes)}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBytes+1))
	if err != nil {
		return nil, &DecodeError{Reason: ReasonMalformed, Err: fmt.Errorf("read body: %w", err)}
	}
	if int64(len(body)) > maxBytes {
		return nil, &DecodeError{Reason: ReasonTooLarge, Err: fmt.Errorf("%w: over %d bytes", ErrTooLarge, maxBytes)}
	}
	return body, nil
}

func parseBatch(body []byte) ([]cloudevents.Event, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, decodeErr(ReasonMalformed, "batch must be a JSON array of events: %v", err)
	}
	out := make([]cloudevents.Event, 0, len(raws))
	for i, raw := range raws {
		e, err := parseStructured(raw)
		if err != nil {
			return nil, &BatchError{Index: i, Err: err}
		}
		out = append(out, e)
	}
	return out, nil
}

// ToHTTPBatch renders events as a CloudEvents JSON batch, for clients and tests.
func ToHTTPBatch(events []cloudevents.Event) (body []byte, contentType string, err error) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, e := range events {
		if err := e.Validate(); err != nil {
			return nil, "", &BatchError{Index: i, Err: err}
		}
		b, err := structuredJSON(e)
		if err != nil {
			return nil, "", &BatchError{Index: i, Err: err}
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(b)
	}
	buf.WriteByte(']')
	return buf.Bytes(), ContentTypeBatch, nil
}

// ToHTTP renders e in the HTTP binding's binary mode: a Ce- header per attribute and
// extension, Content-Type, and the data as body.
func ToHTTP(e cloudevents.Event) (http.Header, []byte, error) {
	if err := e.Validate(); err != nil {
		return nil, nil, fmt.Errorf("encode event %q for HTTP: %w", e.ID(), err)
	}
	hs, err := binaryHeaders(e)
	if err != nil {
		return nil, nil, fmt.Errorf("encode event %s for HTTP: %w", e.ID(), err)
	}
	h := http.Header{}
	for _, kv := range hs {
		h.Set("Ce-"+kv[0], kv[1])
	}
	ct := e.DataContentType()
	if ct == "" {
		ct = ContentTypeJSON
	}
	h.Set("Content-Type", ct)
	return h, e.Data(), nil
}
