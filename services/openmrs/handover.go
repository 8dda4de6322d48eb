package openmrs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// This file reads what a user still holds in OpenMRS before dormant retires the account:
// the providers behind the user, the orders those providers placed that are still active,
// and (where the appointments module is installed) their future appointments. Nothing here
// writes. Patient names and identifiers are deliberately not decoded: what a user holds is
// shown to admins and in emails, which must not carry patient data.

// Provider is a provider record (ProviderResource1_9, default representation).
type Provider struct {
	UUID, Display, Identifier string
	Retired                   bool
}

// ProvidersOfUser lists the providers of the user's person: GET /provider?user=<uuid>
// (ProviderSearchHandler1_9, Platform 1.9+, which calls
// ProviderService.getProvidersByPerson, retired providers included). An unknown user gives
// an empty list, as the search handler answers. Needs Get Users and Get Providers.
func (c *Client) ProvidersOfUser(ctx context.Context, userUUID string) ([]Provider, error) {
	if userUUID == "" {
		return nil, errors.New("providers of user: empty uuid")
	}
	var out []Provider
	err := each(ctx, c, "/provider", url.Values{"user": {userUUID}, "v": {"default"}}, func(page []struct {
		UUID       string  `json:"uuid"`
		Display    string  `json:"display"`
		Identifier *string `json:"identifier"`
		Retired    bool    `json:"retired"`
	}) {
		for _, p := range page {
			out = append(out, Provider{UUID: p.UUID, Display: p.Display, Identifier: str(p.Identifier), Retired: p.Retired})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("providers of user %s: %w", userUUID, err)
	}
	return out, nil
}

// Order is an order as OrderResource1_10's default representation gives it, without the
// patient.
type Order struct {
	UUID, OrderNumber string
	// Action is NEW, REVISE, RENEW or DISCONTINUE.
	Action        string
	Concept       string // the concept's display, e.g. "Amoxicillin"
	OrderType     string // the order type's display, e.g. "Drug Order"
	OrdererUUID   string // a provider uuid
	Orderer       string // the provider's display
	DateActivated time.Time
	// DateStopped and AutoExpireDate are zero when not set.
	DateStopped, AutoExpireDate time.Time
}

// ActiveAt reports whether the order is still in force at t, as core's
// HibernateOrderDAO.getActiveOrders has it: not a discontinuation, activated by t, neither
// stopped nor expired by t.
func (o Order) ActiveAt(t time.Time) bool {
	if o.Action == "DISCONTINUE" {
		return false
	}
	if !o.DateActivated.IsZero() && o.DateActivated.After(t) {
		return false
	}
	if !o.DateStopped.IsZero() && !o.DateStopped.After(t) {
		return false
	}
	return o.AutoExpireDate.IsZero() || o.AutoExpireDate.After(t)
}

type wireOrder struct {
	UUID           string   `json:"uuid"`
	OrderNumber    *string  `json:"orderNumber"`
	Action         *string  `json:"action"`
	Concept        *wireRef `json:"concept"`
	OrderType      *wireRef `json:"orderType"`
	Orderer        *wireRef `json:"orderer"`
	DateActivated  *Time    `json:"dateActivated"`
	DateStopped    *Time    `json:"dateStopped"`
	AutoExpireDate *Time    `json:"autoExpireDate"`
}

func (w wireOrder) order() Order {
	o := Order{UUID: w.UUID, OrderNumber: str(w.OrderNumber), Action: str(w.Action)}
	if w.Concept != nil {
		o.Concept = w.Concept.Display
	}
	if w.OrderType != nil {
		o.OrderType = w.OrderType.Display
		if o.OrderType == "" {
			o.OrderType = w.OrderType.Name
		}
	}
	if w.Orderer != nil {
		o.OrdererUUID, o.Orderer = w.Orderer.UUID, w.Orderer.Display
	}
	for _, f := range []struct {
		dst *time.Time
		src *Time
	}{{&o.DateActivated, w.DateActivated}, {&o.DateStopped, w.DateStopped}, {&o.AutoExpireDate, w.AutoExpireDate}} {
		if f.src != nil {
			*f.dst = f.src.Time
		}
	}
	return o
}

// EachActiveOrder calls fn for every order of the site that is neither stopped, expired,
// voided nor a discontinuation, page by page: GET
// /order?excludeCanceledAndExpired=true&excludeDiscontinueOrders=true&v=default.
//
// Orders cannot be searched by orderer: neither OrderResource1_10.doSearch (which needs a
// patient) nor OrderSearchHandler2_3 (patient, care setting, concepts, order types, dates,
// fulfiller status, action, ...) takes an orderer or provider parameter. So the site's
// active orders are read once and grouped by orderer by the caller. The two parameters
// belong to OrderSearchHandler2_3 (Platform 2.3+); on 2.2 no search handler takes them and
// the resource answers 400 "Please provide patientUuid", which the caller reports as not
// available. fn also gets the orders the server considers active but ActiveAt(now) does
// not (the server compares with its own clock); the caller filters. Needs Get Orders.
func (c *Client) EachActiveOrder(ctx context.Context, fn func(Order) error) error {
	q := url.Values{"excludeCanceledAndExpired": {"true"}, "excludeDiscontinueOrders": {"true"}, "v": {"default"}}
	var ferr error
	err := each(ctx, c, "/order", q, func(page []wireOrder) {
		for _, w := range page {
			if ferr != nil {
				return
			}
			ferr = fn(w.order())
		}
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("list active orders: %w", err)
	}
	return nil
}

// ErrModuleMissing means the OpenMRS module a call needs is not installed or not started.
var ErrModuleMissing = errors.New("openmrs: module not installed or not started")

// Appointment is an appointment as the appointments module's AppointmentDefaultResponse
// gives it, without the patient.
type Appointment struct {
	UUID, Number string
	// Status is Requested, WaitList, Scheduled, CheckedIn, Completed, Cancelled or Missed.
	Status     string
	Service    string
	Location   string
	Start, End time.Time
	// Providers are the appointment's providers with their response (AWAITING, ACCEPTED,
	// REJECTED, TENTATIVE, CANCELLED).
	Providers []AppointmentProvider
}

// AppointmentProvider is one provider of an appointment.
type AppointmentProvider struct {
	UUID, Name, Response string
}

// appointmentDate reads a date of the appointments module's answers. The module returns
// plain POJOs through Spring's Jackson converter, whose default writes java.util.Date as
// epoch milliseconds; a string date (a differently configured mapper) is accepted too.
// Unverified against a running server: which of the two a given OpenMRS distribution sends.
type appointmentDate struct{ time.Time }

func (d *appointmentDate) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if ms, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		d.Time = time.UnixMilli(ms).UTC()
		return nil
	}
	var t Time
	if err := t.UnmarshalJSON(b); err != nil {
		return fmt.Errorf("appointment date: %w", err)
	}
	d.Time = t.Time
	return nil
}

type wireAppointment struct {
	UUID              string          `json:"uuid"`
	AppointmentNumber *string         `json:"appointmentNumber"`
	Status            *string         `json:"status"`
	StartDateTime     appointmentDate `json:"startDateTime"`
	EndDateTime       appointmentDate `json:"endDateTime"`
	Service           *struct {
		Name string `json:"name"`
	} `json:"service"`
	Location *struct {
		Name string `json:"name"`
	} `json:"location"`
	Providers []struct {
		UUID     string  `json:"uuid"`
		Name     *string `json:"name"`
		Response *string `json:"response"`
	} `json:"providers"`
}

// appointmentPages bounds how many times FutureAppointments asks again from the last start
// time it saw: the module caps each answer and has no paging.
const appointmentPages = 20

// AppointmentsPage is what FutureAppointments read.
type AppointmentsPage struct {
	Appointments []Appointment
	// Truncated is true when there were more than the calls allowed to read.
	Truncated bool
}

// FutureAppointments lists the appointments of a provider that start at or after from,
// soonest first, through the appointments module (openmrs-module-appointments, module id
// "appointments"): POST /appointments/search with {"startDate", "providerUuid"}
// (AppointmentsController.search → AppointmentsService.search, View Appointments or Manage
// Appointments). Every status is returned; the caller decides which ones still need handing
// over.
//
// The module orders by startDateTime and caps each answer (AppointmentsServiceImpl sets the
// limit from the global property webservices.rest.maxResultsDefault, 50 unless changed; the
// DAO's own default is 50), and offers no paging. So the search is repeated from the start
// time of the last appointment seen, dropping those already seen, until an answer brings
// nothing new; after appointmentPages answers the result is marked Truncated.
//
// Without the module the path is not mapped to its controller; webservices.rest's generic
// POST /{resource}/{uuid} then answers 404 (UnknownResourceException). That gives
// ErrModuleMissing (wrapped), so callers can say "not available" rather than "none".
func (c *Client) FutureAppointments(ctx context.Context, providerUUID string, from time.Time) (AppointmentsPage, error) {
	if providerUUID == "" {
		return AppointmentsPage{}, errors.New("future appointments: empty provider uuid")
	}
	seen := map[string]bool{}
	var out AppointmentsPage
	start := from.UTC()
	largest := 0
	for page := 0; ; page++ {
		if page == appointmentPages {
			out.Truncated = true
			return out, nil
		}
		body, err := c.do(ctx, c.auth, call{
			method: http.MethodPost,
			path:   "/appointments/search",
			// The module's IT sends dates as "2108-08-13T18:30:00.000Z".
			body: map[string]any{"startDate": start.Format("2006-01-02T15:04:05.000Z"), "providerUuid": providerUUID},
		})
		if IsNotFound(err) {
			return AppointmentsPage{}, fmt.Errorf("future appointments of provider %s: %w (%w)", providerUUID, ErrModuleMissing, err)
		}
		if err != nil {
			return AppointmentsPage{}, fmt.Errorf("future appointments of provider %s: %w", providerUUID, err)
		}
		var ws []wireAppointment
		if err := json.Unmarshal(body, &ws); err != nil {
			return AppointmentsPage{}, fmt.Errorf("future appointments of provider %s: decode answer: %w", providerUUID, err)
		}
		largest = max(largest, len(ws))
		fresh := 0
		for _, w := range ws {
			if seen[w.UUID] {
				continue
			}
			seen[w.UUID] = true
			fresh++
			a := Appointment{UUID: w.UUID, Number: str(w.AppointmentNumber), Status: str(w.Status), Start: w.StartDateTime.Time, End: w.EndDateTime.Time}
			if w.Service != nil {
				a.Service = w.Service.Name
			}
			if w.Location != nil {
				a.Location = w.Location.Name
			}
			for _, p := range w.Providers {
				a.Providers = append(a.Providers, AppointmentProvider{UUID: p.UUID, Name: str(p.Name), Response: str(p.Response)})
			}
			out.Appointments = append(out.Appointments, a)
			if a.Start.After(start) {
				start = a.Start
			}
		}
		if fresh == 0 {
			// Only answers made entirely of appointments already seen end the loop. When
			// such an answer is as long as the longest (so probably capped) and all of it
			// starts at the instant asked from, more appointments than the cap may start at
			// that instant, and the rest cannot be reached by moving the start date.
			if len(ws) > 1 && len(ws) == largest && ws[0].StartDateTime.Equal(start) && ws[len(ws)-1].StartDateTime.Equal(start) {
				out.Truncated = true
			}
			return out, nil
		}
	}
}
