package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/services/platform/natsbus"
)

// httpSubject names the HTTP intake as the origin of a dead letter that never had a subject.
const httpSubject = "http.v1.events"

// rejection tells the client which event of its request was refused and why.
type rejection struct {
	Index   int    `json:"index"`
	ID      string `json:"id,omitempty"`
	Reason  string `json:"reason"`
	Field   string `json:"field,omitempty"`
	Problem string `json:"problem"`
}

type intakeResponse struct {
	Accepted int         `json:"accepted"`
	Rejected []rejection `json:"rejected,omitempty"`
	Error    string      `json:"error,omitempty"`
}

// serveEvents is the OpenMRS hook's intake: CloudEvents over HTTP in binary, structured or
// batch mode. It answers 2xx only once JetStream has acknowledged every accepted event.
//
// A batch with some bad events is answered 400 naming each bad one; the good ones of the same
// batch are accepted and the bad ones are kept in the DLQ, so the client need not (and must
// not) split and resend. Retrying anyway is harmless: event ids deduplicate.
func (in *Ingest) serveEvents(w http.ResponseWriter, r *http.Request) {
	code := in.intake(w, r)
	in.metrics.httpRequests.WithLabelValues(strconv.Itoa(code)).Inc()
}

func (in *Ingest) intake(w http.ResponseWriter, r *http.Request) int {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dormant"`)
		return reply(w, http.StatusUnauthorized, intakeResponse{Error: "a bearer token is required"})
	}
	site, ok := in.siteForToken(tok)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dormant", error="invalid_token"`)
		return reply(w, http.StatusUnauthorized, intakeResponse{Error: "the bearer token is not valid for any site"})
	}

	evs, err := events.FromHTTP(r, in.opts.MaxBodyBytes)
	if err != nil {
		if errors.Is(err, events.ErrTooLarge) {
			return reply(w, http.StatusRequestEntityTooLarge, intakeResponse{
				Error: fmt.Sprintf("request body larger than %d bytes: send smaller batches", in.opts.MaxBodyBytes)})
		}
		return reply(w, http.StatusBadRequest, intakeResponse{Error: err.Error(), Rejected: []rejection{rejectionOf(err)}})
	}

	var (
		good     []*nats.Msg
		rejected []rejection
		dead     []natsbus.DeadLetter
	)
	for i, ev := range evs {
		evSite := events.Site(ev)
		if evSite != site {
			// A token is one site's: an event claiming another site is forged or misrouted.
			return reply(w, http.StatusForbidden, intakeResponse{
				Error: fmt.Sprintf("event %d is for site %q but the token belongs to site %q", i, evSite, site)})
		}
		if err := in.checkIntake(ev); err != nil {
			rj := rejectionOf(err)
			rj.Index, rj.ID = i, ev.ID()
			rejected = append(rejected, rj)
			dead = append(dead, httpDeadLetter(ev, rj))
			continue
		}
		msg, err := events.ToNATS(in.ns.Auth(site), ev)
		if err != nil {
			return reply(w, http.StatusInternalServerError, intakeResponse{Error: "encode event: " + err.Error()})
		}
		good = append(good, msg)
	}

	// The refused events go to the DLQ in the same round trip as the accepted ones: the
	// answer waits for JetStream to hold both, so nothing the client is told about is lost.
	out := good
	for _, d := range dead {
		out = append(out, d.Msg(in.ns.DLQ("auth")))
	}
	ctx, cancel := context.WithTimeout(r.Context(), in.opts.PublishTimeout)
	defer cancel()
	if err := in.publishAll(ctx, out); err != nil {
		code, msg := unavailable(err, in.pub.Conn().IsConnected())
		in.log.Warn("intake could not publish; asking the client to retry", zap.String("site", site), zap.Int("status", code), zap.Error(err))
		w.Header().Set("Retry-After", "2")
		return reply(w, code, intakeResponse{Error: msg})
	}
	for _, d := range dead {
		in.metrics.deadLetters.WithLabelValues(d.Reason).Inc()
	}
	in.metrics.httpEvents.WithLabelValues("accepted").Add(float64(len(good)))
	in.metrics.httpEvents.WithLabelValues("rejected").Add(float64(len(dead)))
	resp := intakeResponse{Accepted: len(good), Rejected: rejected}
	if len(rejected) > 0 {
		resp.Error = fmt.Sprintf("%d of %d events refused; the others were accepted", len(rejected), len(evs))
		return reply(w, http.StatusBadRequest, resp)
	}
	return reply(w, http.StatusAccepted, resp)
}

// unavailable says how to answer a publish that JetStream did not acknowledge. Either way
// nothing of the request is claimed accepted and the client retries all of it (event ids
// make the retry harmless). A stream that is full or slow is backpressure: 429. No stream
// or no connection at all is an outage: 503.
func unavailable(err error, connected bool) (int, string) {
	switch {
	case !connected, errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, jetstream.ErrConnectionClosed),
		errors.Is(err, nats.ErrConnectionDraining):
		return http.StatusServiceUnavailable, "the event stream is unavailable; retry later"
	default:
		return http.StatusTooManyRequests, "the event stream is not keeping up; retry later"
	}
}

// checkIntake applies what can be judged at the door: a decodable, valid user-session event.
// The consumer applies the rest (clock skew) with the same code as for NATS publishers.
func (in *Ingest) checkIntake(ev cloudevents.Event) error {
	d, err := events.Decode(ev)
	if err != nil {
		return err
	}
	if _, ok := d.(*events.UserSession); !ok {
		return &events.DecodeError{Reason: reasonWrongType, Err: fmt.Errorf("type %s is not accepted here; send %s", ev.Type(), events.TypeUserSession)}
	}
	return nil
}

func rejectionOf(err error) rejection {
	rj := rejection{Reason: events.ReasonOf(err), Problem: err.Error()}
	var fe *events.FieldError
	if errors.As(err, &fe) {
		rj.Field, rj.Problem = fe.Field, fe.Problem
	}
	var be *events.BatchError
	if errors.As(err, &be) {
		rj.Index = be.Index
	}
	return rj
}

func httpDeadLetter(ev cloudevents.Event, rj rejection) natsbus.DeadLetter {
	body, _ := json.Marshal(ev)
	detail := rj.Problem
	if rj.Field != "" {
		detail = rj.Field + ": " + rj.Problem
	}
	return natsbus.DeadLetter{
		Subject: httpSubject,
		Header:  nats.Header{"Content-Type": []string{"application/cloudevents+json"}},
		Data:    body,
		Reason:  rj.Reason,
		Detail:  detail,
		ID:      ev.ID(),
	}
}

func reply(w http.ResponseWriter, code int, body intakeResponse) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
	return code
}
