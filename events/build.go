package events

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
)

// Extension attribute names. CloudEvents extensions are lower-case alphanumerics.
const (
	ExtSite        = "site"
	ExtTraceparent = "traceparent"
)

// ContentTypeJSON is the datacontenttype of every dormant event.
const ContentTypeJSON = "application/json"

// subjecter is implemented by data about one user.
type subjecter interface{ SubjectUUID() string }

// New builds a CloudEvent carrying d. It validates d and the site first, so nothing
// invalid is ever published; the clock tick is global and takes site "".
func New(source, site string, d Data, id string, at time.Time) (cloudevents.Event, error) {
	e := cloudevents.NewEvent(cloudevents.VersionV1)
	t := d.EventType()
	if _, ok := registry[t]; !ok {
		return e, fmt.Errorf("build event: unknown type %q", t)
	}
	if err := d.Validate(); err != nil {
		return e, fmt.Errorf("build %s event: %w", t, err)
	}
	if PerSite(t) {
		if !ValidSite(site) {
			return e, fmt.Errorf("build %s event: site %q: must match %s", t, site, sitePattern)
		}
		e.SetExtension(ExtSite, site)
	} else if site != "" {
		return e, fmt.Errorf("build %s event: a global event takes no site, got %q", t, site)
	}
	if id == "" || source == "" || at.IsZero() {
		return e, fmt.Errorf("build %s event: id, source and time are required", t)
	}
	e.SetID(id)
	e.SetSource(source)
	e.SetType(t)
	e.SetTime(at)
	e.SetDataSchema(SchemaURI(t))
	if s, ok := d.(subjecter); ok && s.SubjectUUID() != "" {
		e.SetSubject(s.SubjectUUID())
	}
	if err := e.SetData(ContentTypeJSON, d); err != nil {
		return e, fmt.Errorf("build %s event: encode data: %w", t, err)
	}
	if err := e.Validate(); err != nil {
		return e, fmt.Errorf("build %s event: %w", t, err)
	}
	return e, nil
}

// SourceFor is the source attribute of events dormant's own components emit.
func SourceFor(component, site string) string { return "/dormant/" + component + "/" + site }

// DerivedID is a deterministic event id for events derived from others: the same inputs
// give the same id, so a replay publishes duplicates that JetStream drops. It is the first
// 128 bits of SHA-256 over the parts, each length-prefixed so ("ab","c") and ("a","bc")
// differ.
//
// The bytes hashed are those of fmt's "%d:%s;" per part (TestDerivedIDBytes), written with
// strconv because login-ingest derives an id per event.
func DerivedID(parts ...string) string {
	h := sha256.New()
	var buf [24]byte
	for _, p := range parts {
		h.Write(append(strconv.AppendInt(buf[:0], int64(len(p)), 10), ':'))
		h.Write([]byte(p))
		h.Write([]byte{';'})
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// TickID is the id of the clock tick standing for at, the same for every clock that
// emits that tick.
func TickID(at time.Time) string { return "tick-" + at.UTC().Format(time.RFC3339) }

// Traceparent returns the W3C trace context carried by e, "" if none.
func Traceparent(e event.Event) string {
	v, ok := e.Extensions()[ExtTraceparent]
	if !ok {
		return ""
	}
	s, _ := v.(string)
	return s
}

// SetTraceparent attaches a W3C trace context to e; "" removes it.
func SetTraceparent(e *event.Event, tp string) {
	tp = strings.TrimSpace(tp)
	if tp == "" {
		e.SetExtension(ExtTraceparent, nil)
		return
	}
	e.SetExtension(ExtTraceparent, tp)
}

// Site returns the site extension of e, "" if absent.
func Site(e event.Event) string {
	v, ok := e.Extensions()[ExtSite]
	if !ok {
		return ""
	}
	s, _ := v.(string)
	return s
}
