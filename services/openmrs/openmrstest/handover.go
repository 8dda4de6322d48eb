package openmrstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Privileges of the handover reads (core's PrivilegeConstants, the appointments module's
// PrivilegeConstants).
const (
	PrivGetProviders       = "Get Providers"
	PrivGetOrders          = "Get Orders"
	PrivViewAppointments   = "View Appointments"
	PrivManageAppointments = "Manage Appointments"
)

// WithAppointmentsModule installs the appointments module (openmrs-module-appointments):
// without it, as on a bare OpenMRS, /appointments/search is an unknown resource (404).
func WithAppointmentsModule() Option { return func(s *Server) { s.appointmentsModule = true } }

// ProviderSpec seeds a provider. UserUUID ties it to the person of that user, as core links
// providers to persons, not users.
type ProviderSpec struct {
	UserUUID   string
	Identifier string
	Retired    bool
}

type provider struct {
	uuid, personUUID, identifier string
	retired                      bool
}

// OrderSpec seeds an order. Orderer is a provider uuid.
type OrderSpec struct {
	Orderer     string
	PatientName string
	Concept     string // display of the concept, e.g. "Amoxicillin"
	OrderType   string // default "Drug Order"
	Action      string // default NEW
	Activated   time.Time
	Stopped     time.Time // zero: not stopped
	AutoExpire  time.Time // zero: no auto-expiry
	Voided      bool
}

type order struct {
	OrderSpec
	uuid, number, patientUUID string
}

// AppointmentSpec seeds an appointment of the appointments module.
type AppointmentSpec struct {
	Providers   []string // provider uuids
	PatientName string
	Service     string
	Start, End  time.Time
	// Status defaults to Scheduled.
	Status string
	// Response is each provider's response, default ACCEPTED.
	Response string
	Voided   bool
}

type appointment struct {
	AppointmentSpec
	uuid, number, patientUUID string
}

// AddProvider seeds a provider for the user's person and returns its uuid. It panics for
// an unknown user, a test bug.
func (s *Server) AddProvider(p ProviderSpec) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.byUUID[p.UserUUID]
	if u == nil {
		panic("openmrstest: AddProvider for unknown user " + p.UserUUID)
	}
	pr := &provider{uuid: newUUID(), personUUID: u.PersonUUID, identifier: p.Identifier, retired: p.Retired}
	s.providers = append(s.providers, pr)
	return pr.uuid
}

// AddOrder seeds an order and returns its uuid.
func (s *Server) AddOrder(o OrderSpec) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.OrderType == "" {
		o.OrderType = "Drug Order"
	}
	if o.Action == "" {
		o.Action = "NEW"
	}
	if o.Activated.IsZero() {
		o.Activated = time.Now().UTC().Add(-time.Hour)
	}
	rec := &order{OrderSpec: o, uuid: newUUID(), number: fmt.Sprintf("ORD-%d", len(s.orders)+1), patientUUID: newUUID()}
	s.orders = append(s.orders, rec)
	return rec.uuid
}

// AddAppointment seeds an appointment and returns its uuid. It has no effect on requests
// unless the server was made WithAppointmentsModule.
func (s *Server) AddAppointment(a AppointmentSpec) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.Status == "" {
		a.Status = "Scheduled"
	}
	if a.Response == "" {
		a.Response = "ACCEPTED"
	}
	if a.End.IsZero() {
		a.End = a.Start.Add(30 * time.Minute)
	}
	rec := &appointment{AppointmentSpec: a, uuid: newUUID(), number: fmt.Sprintf("%04d", len(s.appointments)+1), patientUUID: newUUID()}
	s.appointments = append(s.appointments, rec)
	return rec.uuid
}

// routeHandoverLocked serves the handover resources and reports whether it answered.
func (s *Server) routeHandoverLocked(req *request, res, id string) bool {
	switch {
	case res == "provider" && id == "" && req.Method == http.MethodGet:
		s.searchProvidersLocked(req)
	case res == "order" && id == "" && req.Method == http.MethodGet:
		s.searchOrdersLocked(req)
	case res == "appointments" && id == "search" && req.Method == http.MethodPost && s.appointmentsModule:
		s.searchAppointmentsLocked(req)
	default:
		return false
	}
	return true
}

func (s *Server) providerDisplay(p *provider) string {
	name := ""
	if u := s.personIndex[p.personUUID]; u != nil {
		name = personDisplay(u)
	}
	if p.identifier == "" {
		return name
	}
	return p.identifier + " - " + name // ProviderResource1_9.getDisplayString
}

func (s *Server) providerRefLocked(req *request, p *provider) obj {
	return obj{"uuid": p.uuid, "display": s.providerDisplay(p),
		"links": []obj{link("self", req.base+"/ws/rest/v1/provider/"+p.uuid, "provider")}}
}

// searchProvidersLocked is ProviderSearchHandler1_9 (GET /provider?user=): the providers of
// the user's person, retired ones included; an unknown user gives an empty list. Other
// provider searches are not modelled.
func (s *Server) searchProvidersLocked(req *request) {
	q := req.URL.Query()
	if !q.Has("user") {
		badRequest(req.w, "only GET /provider?user= is supported by the fake")
		return
	}
	// UserService.getUserByUuid, then ProviderService.getProvidersByPerson.
	if !s.requireLocked(req, PrivGetUsers) || !s.requireLocked(req, PrivGetProviders) {
		return
	}
	rep, ok := representation(req, "ref")
	if !ok {
		return
	}
	var found []*provider
	if u := s.byUUID[q.Get("user")]; u != nil {
		for _, p := range s.providers {
			if p.personUUID == u.PersonUUID {
				found = append(found, p)
			}
		}
	}
	start, end, extra, ok := s.pageLocked(req, len(found))
	if !ok {
		return
	}
	results := []any{}
	for _, p := range found[start:end] {
		o := s.providerRefLocked(req, p)
		if rep != "ref" {
			o["identifier"], o["retired"], o["attributes"] = p.identifier, p.retired, []any{}
			if u := s.personIndex[p.personUUID]; u != nil {
				o["person"] = s.personRepLocked(req, u, "ref")
			}
		}
		results = append(results, o)
	}
	writeJSON(req.w, http.StatusOK, list(results, extra))
}

// orderSearchParams are OrderSearchHandler2_3's parameters; the fake implements those
// dormant uses and refuses the rest.
var orderSearchParams = map[string]bool{
	"patient": true, "careSetting": true, "concepts": true, "orderTypes": true, "orderNumber": true,
	"accessionNumber": true, "activatedOnOrBeforeDate": true, "activatedOnOrAfterDate": true, "isStopped": true,
	"autoExpireOnOrBeforeDate": true, "canceledOrExpiredOnOrBeforeDate": true, "action": true, "fulfillerStatus": true,
	"includeNullFulfillerStatus": true, "excludeCanceledAndExpired": true, "excludeDiscontinueOrders": true, "includeVoided": true,
}

var orderSearchImplemented = map[string]bool{"excludeCanceledAndExpired": true, "excludeDiscontinueOrders": true, "includeVoided": true, "isStopped": true}

// versionAtLeast compares the fake's OpenMRS version with major.minor.
func (s *Server) versionAtLeast(major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(s.version, "%d.%d", &ma, &mi); err != nil {
		return true
	}
	return ma > major || ma == major && mi >= minor
}

// searchOrdersLocked is GET /order with OrderSearchHandler2_3 (Platform 2.3+): without a
// search handler taking every parameter, OrderResource1_10.doSearch needs a patient (400),
// and a GET without parameters is doGetAll, which orders do not support (400).
func (s *Server) searchOrdersLocked(req *request) {
	q := req.URL.Query()
	handled := len(q) > 0
	searching := false
	for k := range q {
		switch k {
		case "v", "limit", "startIndex", "totalCount", "includeAll":
			continue
		}
		searching = true
		if !orderSearchParams[k] || !s.versionAtLeast(2, 3) {
			handled = false
		}
	}
	if !searching {
		writeError(req.w, http.StatusBadRequest, "The Resource Does not Support the Requested Operation [null]", "org.openmrs.module.webservices.rest.web.resource.impl.DelegatingCrudResource:0")
		return
	}
	if !handled {
		writeError(req.w, http.StatusBadRequest, "The search with the given parameters is not valid [Please provide patientUuid in the patient parameter]", "org.openmrs.module.webservices.rest.web.v1_0.resource.openmrs1_10.OrderResource1_10:0")
		return
	}
	for k := range q {
		if orderSearchParams[k] && !orderSearchImplemented[k] {
			badRequest(req.w, "the order search parameter "+k+" is not supported by the fake")
			return
		}
	}
	if !s.requireLocked(req, PrivGetOrders) {
		return
	}
	rep, ok := representation(req, "ref")
	if !ok {
		return
	}
	flag := func(k string) bool { b, _ := strconv.ParseBool(q.Get(k)); return b }
	now := time.Now()
	var found []*order
	for _, o := range s.orders {
		switch {
		case o.Voided && !flag("includeVoided"):
		case flag("isStopped") && o.Stopped.IsZero():
		case flag("excludeDiscontinueOrders") && o.Action == "DISCONTINUE":
		case flag("excludeCanceledAndExpired") && (!o.AutoExpire.IsZero() && !o.AutoExpire.After(now) || !o.Stopped.IsZero() && !o.Stopped.After(now)):
		default:
			found = append(found, o)
		}
	}
	// HibernateOrderDAO orders by dateActivated, newest first.
	slices.SortStableFunc(found, func(a, b *order) int { return b.Activated.Compare(a.Activated) })
	start, end, extra, ok := s.pageLocked(req, len(found))
	if !ok {
		return
	}
	results := []any{}
	for _, o := range found[start:end] {
		results = append(results, s.orderRepLocked(req, o, rep))
	}
	writeJSON(req.w, http.StatusOK, list(results, extra))
}

func (s *Server) orderRepLocked(req *request, o *order, rep string) obj {
	self := link("self", req.base+"/ws/rest/v1/order/"+o.uuid, "order")
	display := o.Concept
	if rep == "ref" {
		return obj{"uuid": o.uuid, "display": display, "links": []obj{self}}
	}
	ref := func(kind, name string) obj {
		id := s.privilegeUUID(kind + ":" + name)
		return obj{"uuid": id, "display": name, "links": []obj{link("self", req.base+"/ws/rest/v1/"+kind+"/"+id, kind)}}
	}
	var orderer any
	for _, p := range s.providers {
		if p.uuid == o.Orderer {
			orderer = s.providerRefLocked(req, p)
		}
	}
	out := obj{"uuid": o.uuid, "orderNumber": o.number, "accessionNumber": nil,
		"patient":     obj{"uuid": o.patientUUID, "display": "100-1 - " + o.PatientName, "links": []obj{link("self", req.base+"/ws/rest/v1/patient/"+o.patientUUID, "patient")}},
		"concept":     ref("concept", o.Concept),
		"action":      o.Action,
		"careSetting": ref("caresetting", "Outpatient"), "previousOrder": nil,
		"dateActivated": formatDate(o.Activated), "scheduledDate": nil,
		"dateStopped": formatDate(o.Stopped), "autoExpireDate": formatDate(o.AutoExpire),
		"encounter": nil, "orderer": orderer, "orderReason": nil, "orderReasonNonCoded": nil,
		"orderType": ref("ordertype", o.OrderType), "urgency": "ROUTINE", "instructions": nil,
		"commentToFulfiller": nil, "display": display, "type": strings.ToLower(strings.ReplaceAll(o.OrderType, " ", "")),
	}
	if rep == "full" {
		out["auditInfo"] = obj{"creator": nil, "dateCreated": formatDate(o.Activated)}
		out["fulfillerStatus"], out["fulfillerComment"] = nil, nil
		out["links"] = []obj{self}
	} else {
		out["links"] = []obj{self, link("full", req.base+"/ws/rest/v1/order/"+o.uuid+"?v=full", "order")}
	}
	return out
}

// searchAppointmentsLocked is AppointmentsController.search: the body is an
// AppointmentSearchRequest; a missing startDate fails the validator with a
// RuntimeException (500); results are not voided, start at or after startDate (and at or
// before endDate), ordered by start, capped by the global property
// webservices.rest.maxResultsDefault when set, else by limit, else by 50 when there is no
// endDate. Dates go out as epoch milliseconds (Jackson's default for java.util.Date).
func (s *Server) searchAppointmentsLocked(req *request) {
	var body struct {
		StartDate         *string `json:"startDate"`
		EndDate           *string `json:"endDate"`
		PatientUUID       string  `json:"patientUuid"`
		ProviderUUID      string  `json:"providerUuid"`
		Limit             int     `json:"limit"`
		Status            string  `json:"status"`
		AppointmentNumber string  `json:"appointmentNumber"`
	}
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		writeError(req.w, http.StatusBadRequest, "[Could not read JSON]", "org.springframework.http.converter.HttpMessageNotReadableException:0")
		return
	}
	parse := func(p *string) (time.Time, bool) {
		if p == nil {
			return time.Time{}, true
		}
		for _, l := range append([]string{"2006-01-02T15:04:05.000Z07:00"}, dateInputLayouts...) {
			if t, err := time.Parse(l, *p); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	}
	from, ok1 := parse(body.StartDate)
	to, ok2 := parse(body.EndDate)
	if !ok1 || !ok2 {
		writeError(req.w, http.StatusBadRequest, "[Could not read JSON: Can not construct instance of java.util.Date]", "org.springframework.http.converter.HttpMessageNotReadableException:0")
		return
	}
	if body.StartDate == nil {
		writeError(req.w, http.StatusInternalServerError, "[StartDate is not provided]", "org.openmrs.module.appointments.web.controller.AppointmentsController:0")
		return
	}
	if req.user == nil || !s.hasPrivilegeLocked(req.user, PrivViewAppointments) && !s.hasPrivilegeLocked(req.user, PrivManageAppointments) {
		s.requireLocked(req, PrivViewAppointments)
		return
	}
	limit := body.Limit
	if gp, err := strconv.Atoi(s.settings["webservices.rest.maxResultsDefault"]); err == nil {
		limit = gp
	} else if limit <= 0 && body.EndDate == nil {
		limit = 50
	}
	var found []*appointment
	for _, a := range s.appointments {
		switch {
		case a.Voided, a.Start.Before(from), body.EndDate != nil && a.Start.After(to):
		case body.ProviderUUID != "" && !slices.Contains(a.Providers, body.ProviderUUID):
		case body.PatientUUID != "" && a.patientUUID != body.PatientUUID:
		case body.Status != "" && a.Status != body.Status:
		default:
			found = append(found, a)
		}
	}
	slices.SortStableFunc(found, func(a, b *appointment) int { return a.Start.Compare(b.Start) })
	if limit > 0 && len(found) > limit {
		found = found[:limit]
	}
	out := []any{}
	for _, a := range found {
		provs := []any{}
		for _, pu := range a.Providers {
			name := ""
			for _, p := range s.providers {
				if p.uuid == pu {
					if u := s.personIndex[p.personUUID]; u != nil {
						name = personDisplay(u)
					}
				}
			}
			provs = append(provs, obj{"uuid": pu, "comments": nil, "response": a.Response, "name": name})
		}
		out = append(out, obj{"uuid": a.uuid, "appointmentNumber": a.number,
			"dateCreated": a.Start.Add(-24 * time.Hour).UnixMilli(), "dateAppointmentScheduled": nil,
			"patient": obj{"name": a.PatientName, "uuid": a.patientUUID, "identifier": "100-1", "age": 40, "gender": "F", "birthDate": nil, "customAttributes": obj{}},
			"service": obj{"uuid": s.privilegeUUID("svc:" + a.Service), "name": a.Service}, "serviceType": nil, "provider": nil,
			"location": nil, "startDateTime": a.Start.UnixMilli(), "endDateTime": a.End.UnixMilli(),
			"appointmentKind": "Scheduled", "status": a.Status, "comments": nil, "additionalInfo": nil,
			"teleconsultation": nil, "providers": provs, "recurring": false, "voided": false,
			"extensions": obj{"patientEmailDefined": false}, "teleconsultationLink": nil, "priority": nil, "reasons": []any{}})
	}
	writeJSON(req.w, http.StatusOK, out)
}
