package openmrs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// DateLayout is webservices.rest's RestConstants.DATE_FORMAT,
// yyyy-MM-dd'T'HH:mm:ss.SSSZ, in Go notation. Z there is an RFC 822 zone
// without a colon (+0000), which is why RFC 3339 parsers reject OpenMRS dates.
const DateLayout = "2006-01-02T15:04:05.000-0700"

// inputLayouts are what ParseTime accepts: the REST format first, then the
// forms webservices.rest's ConversionUtil accepts on input, then RFC 3339
// so hand-written configuration and other tools' timestamps also parse.
var inputLayouts = []string{
	DateLayout,
	"2006-01-02T15:04:05.000",
	"2006-01-02T15:04:05-0700",
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02",
}

// Time is an instant as the OpenMRS REST API writes it. The zero Time
// encodes as JSON null, as OpenMRS does for an absent date.
type Time struct{ time.Time }

// ParseTime parses an OpenMRS REST date, tolerating RFC 3339. Dates without
// a zone are read as UTC: the server's zone is unknown to the client.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range inputLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("parse OpenMRS date %q: want yyyy-MM-dd'T'HH:mm:ss.SSSZ or RFC 3339", s)
}

// FormatTime formats t the way OpenMRS writes dates, in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(DateLayout) }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(FormatTime(t.Time))
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("OpenMRS date must be a string: %w", err)
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	p, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = p
	return nil
}
