package events

import (
	"fmt"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"
)

// HeaderMsgID is JetStream's de-duplication header; it carries the event id so a replayed
// derived event is dropped by the server.
const HeaderMsgID = "Nats-Msg-Id"

const cePrefix = "ce-"

// ToNATS renders e in the NATS binding's binary mode: a ce- header per attribute and
// extension, content-type, the data as body, and Nats-Msg-Id = the event id.
func ToNATS(subject string, e cloudevents.Event) (*nats.Msg, error) {
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("encode event %q for %s: %w", e.ID(), subject, err)
	}
	hs, err := binaryHeaders(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %s for %s: %w", e.ID(), subject, err)
	}
	msg := nats.NewMsg(subject)
	// Direct assignment keeps the lower-case names the binding specifies; nats.Header is
	// case-sensitive and the SDK looks headers up in lower case.
	for _, h := range hs {
		msg.Header[cePrefix+h[0]] = []string{h[1]}
	}
	ct := e.DataContentType()
	if ct == "" {
		ct = ContentTypeJSON
	}
	msg.Header["content-type"] = []string{ct}
	msg.Header[HeaderMsgID] = []string{e.ID()}
	msg.Data = e.Data()
	return msg, nil
}

// FromNATS reads a CloudEvent from a NATS message in binary mode (ce- headers, content
// type in content-type or ce-datacontenttype) or structured mode (content-type
// application/cloudevents+json, or no ce- header and a JSON body naming a specversion).
// It checks the envelope only; Decode checks the data.
func FromNATS(h nats.Header, data []byte) (cloudevents.Event, error) {
	a := attrs{values: map[string]string{}}
	var contentType, ceContentType string
	binary := false
	for k, vs := range h {
		if len(vs) == 0 {
			continue
		}
		lk := strings.ToLower(k)
		switch {
		case strings.HasPrefix(lk, cePrefix):
			binary = true
			name := lk[len(cePrefix):]
			if name == "datacontenttype" {
				ceContentType = vs[0]
			}
			a.values[name] = vs[0]
		case lk == "content-type":
			contentType = vs[0]
		}
	}
	if binary {
		a.contentType = contentType
		if a.contentType == "" {
			a.contentType = ceContentType
		}
		if mediaType(a.contentType) == ContentTypeStructured || mediaType(a.contentType) == ContentTypeBatch {
			return cloudevents.Event{}, decodeErr(ReasonUnsupportedMode, "ce- headers with content type %q", a.contentType)
		}
		return a.toEvent(data)
	}
	switch mt := mediaType(contentType); {
	case mt == ContentTypeStructured:
		return parseStructured(data)
	case mt == "" && looksStructured(data):
		return parseStructured(data)
	case mt == "":
		return cloudevents.Event{}, decodeErr(ReasonUnsupportedMode, "no ce- headers and no structured event in the body")
	default:
		return cloudevents.Event{}, decodeErr(ReasonUnsupportedMode, "no ce- headers and content type %q", contentType)
	}
}
