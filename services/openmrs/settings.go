package openmrs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// each fetches every page of a list at path, calling add per page.
func each[T any](ctx context.Context, c *Client, path string, q url.Values, add func([]T)) error {
	start := 0
	limit := MaxPageSize
	for {
		pq := url.Values{}
		for k, v := range q {
			pq[k] = v
		}
		pq.Set("limit", strconv.Itoa(limit))
		if start > 0 {
			pq.Set("startIndex", strconv.Itoa(start))
		}
		var l wireList[T]
		err := c.getJSON(ctx, path, pq, &l)
		if n, ok := absoluteLimit(err); ok && n < limit {
			limit = n
			continue
		}
		if err != nil {
			return err
		}
		add(l.Results)
		next := l.next()
		if next == "" {
			return nil
		}
		n, err := nextStartIndex(next)
		if err != nil {
			return err
		}
		if n <= start {
			return fmt.Errorf("next link goes back from %d to %d", start, n)
		}
		start = n
	}
}

// SystemSettings returns the global properties whose names start with
// prefix (GET /systemsetting?q=prefix), every page, as name → value. An
// empty prefix lists them all. A property without a value maps to "".
// Needs the Get Global Properties privilege.
func (c *Client) SystemSettings(ctx context.Context, prefix string) (map[string]string, error) {
	q := url.Values{"v": {"full"}}
	if prefix != "" {
		q.Set("q", prefix)
	}
	out := map[string]string{}
	err := each(ctx, c, "/systemsetting", q, func(page []struct {
		Property string  `json:"property"`
		Value    *string `json:"value"`
	}) {
		for _, s := range page {
			out[s.Property] = str(s.Value)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("list system settings %q: %w", prefix, err)
	}
	return out, nil
}

// Roles lists every role (GET /role). Needs the Get Roles privilege.
func (c *Client) Roles(ctx context.Context) ([]Role, error) {
	var out []Role
	err := each(ctx, c, "/role", url.Values{"v": {"default"}}, func(page []wireRef) {
		for _, r := range page {
			out = append(out, r.role())
		}
	})
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	return out, nil
}

// Alert is an on-screen OpenMRS alert (Platform 2.0+, AlertResource2_0).
type Alert struct {
	Text string
	// Recipients are user uuids; at least one is required.
	Recipients []string
	// SatisfiedByAny marks the alert read for all once one recipient
	// reads it.
	SatisfiedByAny bool
	// DateToExpire, when set, hides the alert after that instant.
	DateToExpire time.Time
}

// CreateAlert posts an alert: POST /alert with text, recipients as
// [{"recipient": "<user uuid>"}] (the AlertRecipient shape the resource
// converts), satisfiedByAny and dateToExpire. Needs the Manage Alerts
// privilege. A retry after a lost answer may create the alert twice.
func (c *Client) CreateAlert(ctx context.Context, a Alert) error {
	if a.Text == "" {
		return errors.New("create alert: empty text")
	}
	if len(a.Recipients) == 0 {
		return errors.New("create alert: at least one recipient is required")
	}
	recips := make([]map[string]string, len(a.Recipients))
	for i, r := range a.Recipients {
		recips[i] = map[string]string{"recipient": r}
	}
	body := map[string]any{
		"text":           a.Text,
		"recipients":     recips,
		"satisfiedByAny": a.SatisfiedByAny,
	}
	if !a.DateToExpire.IsZero() {
		body["dateToExpire"] = FormatTime(a.DateToExpire)
	}
	if _, err := c.do(ctx, c.auth, call{method: http.MethodPost, path: "/alert", body: body, want: []int{http.StatusCreated, http.StatusOK}}); err != nil {
		return fmt.Errorf("create alert for %d recipients: %w", len(a.Recipients), err)
	}
	return nil
}
