package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"

	"github.com/dormant-dev/dormant/events"
)

// sendLogin posts one login event to the intake, the way the OpenMRS hook does.
func sendLogin(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("send-login", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080/v1/events", "the intake endpoint")
	site := fs.String("site", "demo", "site id")
	token := fs.String("token", os.Getenv("DORMANT_DEMO_TOKEN"), "the site's ingest token (default $DORMANT_DEMO_TOKEN)")
	username := fs.String("username", "alice", "username")
	user := fs.String("user-uuid", "", "user uuid (default: derived from the username)")
	status := fs.String("status", events.StatusSuccess, "success or failure")
	at := fs.String("at", "", "occurred_at, RFC 3339 (default: now)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	occurred := time.Now().UTC()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return fmt.Errorf("-at %q: %w", *at, err)
		}
		occurred = t
	}
	data := &events.UserSession{Event: events.EventLogin, Status: *status, Username: *username, OccurredAt: occurred, Method: events.MethodForm}
	if *status == events.StatusSuccess {
		data.UserUUID = *user
		if data.UserUUID == "" {
			data.UserUUID = uuid.NewSHA1(uuid.NameSpaceOID, []byte(*site+"/"+*username)).String()
		}
	}
	id := uuid.Must(uuid.NewRandomFromReader(rand.Reader)).String()
	ev, err := events.New("openmrs://dormant-cli", *site, data, id, occurred)
	if err != nil {
		return err
	}
	body, ctype, err := events.ToHTTPBatch([]cloudevents.Event{ev})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer "+*token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("post to %s: %w", *url, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	fmt.Fprintf(stdout, "%s %s\n", resp.Status, bytes.TrimSpace(reply))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("intake refused the event")
	}
	if data.UserUUID != "" {
		fmt.Fprintf(stdout, "user %s (%s) logged in at %s\n", data.UserUUID, *username, occurred.Format(time.RFC3339))
	}
	return nil
}
