package openmrstest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	webapp   = "/openmrs"
	restRoot = webapp + "/ws/rest/v1"
	// dateLayout is RestConstants.DATE_FORMAT, yyyy-MM-dd'T'HH:mm:ss.SSSZ.
	dateLayout = "2006-01-02T15:04:05.000-0700"
)

type obj = map[string]any

// request is what a handler sees: the request, its session and a few
// derived values. Handlers run with s.mu held.
type request struct {
	*http.Request
	w    http.ResponseWriter
	sess *session
	user *User // authenticated user, nil if none
	rel  string
	base string // scheme://host/openmrs
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, restRoot+"/") {
		http.NotFound(w, r)
		return
	}
	rel := strings.TrimPrefix(r.URL.Path, restRoot)

	s.mu.Lock()
	s.requests[r.Method+" "+normalize(rel)]++
	latency := s.latency
	fault := s.matchFaultLocked(r.Method, rel)
	s.mu.Unlock()

	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	if fault != nil {
		if fault.Drop {
			dropConnection(w)
			return
		}
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		writeError(w, fault.Status, fmt.Sprintf("[injected fault %d]", fault.Status), "openmrstest.Fault:0")
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	req := &request{Request: r, w: w, rel: rel, base: "http://" + r.Host + webapp}
	if !s.authenticateLocked(req) {
		return
	}
	s.routeLocked(req)
}

func (s *Server) matchFaultLocked(method, rel string) *Fault {
	for i, f := range s.faults {
		if (f.Method == "" || f.Method == method) && strings.HasPrefix(rel, f.PathPrefix) {
			if f.Count > 0 {
				f.Count--
				if f.Count == 0 {
					s.faults = append(s.faults[:i], s.faults[i+1:]...)
				}
			}
			c := *f
			return &c
		}
	}
	return nil
}

// dropConnection closes the TCP connection without an answer, as a
// crashed server or a reset by a proxy does.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// authenticateLocked mirrors OpenMRS: every request gets an HTTP session
// (JSESSIONID); AuthorizationFilter answers 401 "Session timed out" to a
// session id it no longer knows, and logs in with basic auth only when the
// session is not already authenticated. Credentials that fail are
// swallowed: the resource then answers 401 itself, or /session says
// "authenticated": false. It returns false when it has answered.
func (s *Server) authenticateLocked(req *request) bool {
	if ck, err := req.Cookie("JSESSIONID"); err == nil {
		sess, ok := s.sessions[ck.Value]
		if !ok {
			// The real filter calls sendError and lets the chain run on
			// with the answer committed; a request with a stale cookie
			// and no valid basic auth does nothing, which is all a client
			// that drops its cookie on 401 ever sends. Tomcat writes an
			// HTML error page, not JSON.
			req.w.Header().Set("Content-Type", "text/html;charset=utf-8")
			req.w.WriteHeader(http.StatusUnauthorized)
			_, _ = fmt.Fprint(req.w, "<!doctype html><html><head><title>HTTP Status 401 – Unauthorized</title></head><body><h1>HTTP Status 401 – Unauthorized</h1><p><b>Message</b> Session timed out</p></body></html>")
			return false
		}
		req.sess = sess
	} else {
		id := strings.ToUpper(strings.ReplaceAll(newUUID(), "-", ""))
		req.sess = &session{}
		s.sessions[id] = req.sess
		http.SetCookie(req.w, &http.Cookie{Name: "JSESSIONID", Value: id, Path: webapp, HttpOnly: true})
	}
	if req.sess.user == "" {
		if h := req.Header.Get("Authorization"); strings.HasPrefix(h, "Basic") {
			enc := strings.TrimSpace(strings.TrimPrefix(h, "Basic"))
			dec, err := base64.StdEncoding.DecodeString(enc)
			if enc == "" || err != nil || !strings.Contains(string(dec), ":") {
				http.Error(req.w, "Invalid credentials provided", http.StatusBadRequest)
				return false
			}
			s.basicAuths++
			// AuthorizationFilter splits on every ':' and uses the first
			// two parts, so a password holding ':' never works there.
			parts := strings.Split(string(dec), ":")
			if u := s.byUsername[parts[0]]; u != nil && !u.Retired && len(parts) > 1 && u.Password == parts[1] {
				req.sess.user = u.UUID
				// HibernateContextDAO.authenticate records the login.
				u.Properties["lastLoginTimestamp"] = strconv.FormatInt(time.Now().UnixMilli(), 10)
			}
		}
	}
	if req.sess.user != "" {
		req.user = s.byUUID[req.sess.user]
		if req.user == nil || req.user.Retired {
			// Purged or retired while logged in.
			req.sess.user, req.user = "", nil
		}
	}
	return true
}

func (s *Server) routeLocked(req *request) {
	parts := strings.Split(strings.Trim(req.rel, "/"), "/")
	res := parts[0]
	id := ""
	if len(parts) > 1 {
		id = parts[1]
	}
	if len(parts) > 2 {
		writeError(req.w, http.StatusNotFound, "[sub-resources are not supported by the fake]", "")
		return
	}
	if s.routeHandoverLocked(req, res, id) {
		return
	}
	switch {
	case res == "session" && id == "":
		s.sessionLocked(req)
	case res == "user" && id == "" && req.Method == http.MethodGet:
		s.listUsersLocked(req)
	case res == "user" && id != "":
		switch req.Method {
		case http.MethodGet:
			s.getUserLocked(req, id)
		case http.MethodDelete:
			s.deleteUserLocked(req, id)
		case http.MethodPost:
			s.updateUserLocked(req, id)
		default:
			methodNotAllowed(req.w)
		}
	case res == "person" && id != "" && req.Method == http.MethodGet:
		s.getPersonLocked(req, id)
	case res == "role" && id == "" && req.Method == http.MethodGet:
		s.listRolesLocked(req)
	case res == "systemsetting" && id == "" && req.Method == http.MethodGet:
		s.listSettingsLocked(req)
	case res == "alert" && id == "" && req.Method == http.MethodPost:
		s.createAlertLocked(req)
	case res == "systeminformation" && id == "" && req.Method == http.MethodGet:
		s.systemInformationLocked(req)
	case res == "taskdefinition" && id == "" && req.Method == http.MethodGet:
		s.listTasksLocked(req)
	default:
		writeError(req.w, http.StatusNotFound, fmt.Sprintf("[Unknown resource: v1/%s (or not supported by the fake)]", res), "org.openmrs.module.webservices.rest.web.RestServiceImpl:0")
	}
}

// writeError writes RestUtil.wrapErrorResponse's body. code is the
// throwing class and line in the real thing; the fake's line numbers mean
// nothing.
func writeError(w http.ResponseWriter, status int, message, code string) {
	raw := message
	if i := strings.Index(raw, "["); i >= 0 {
		raw = strings.TrimSuffix(raw[i+1:], "]")
	}
	writeJSON(w, status, obj{"error": obj{
		"message": message, "code": code, "detail": "",
		"rawMessage": raw, "translatedMessage": raw,
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func methodNotAllowed(w http.ResponseWriter) {
	writeError(w, http.StatusMethodNotAllowed, "[Request method not supported]", "org.springframework.web.servlet.DispatcherServlet:0")
}

func badRequest(w http.ResponseWriter, message string) {
	writeError(w, http.StatusBadRequest, "["+message+"]", "org.openmrs.module.webservices.rest.web.ConversionUtil:0")
}

// requireLocked answers 401 or 403 as BaseRestController's
// apiAuthenticationExceptionHandler does when the privilege is missing,
// and reports whether the request may go on.
func (s *Server) requireLocked(req *request, priv string) bool {
	if req.user != nil && s.hasPrivilegeLocked(req.user, priv) {
		return true
	}
	msg := "[Privileges required: " + priv + "]"
	if req.user == nil {
		if req.Header.Get("Disable-WWW-Authenticate") != "true" {
			req.w.Header().Set("WWW-Authenticate", `Basic realm="OpenMRS at `+req.base+`/ws/rest"`)
		}
		writeError(req.w, http.StatusUnauthorized, "User is not logged in "+msg, "org.openmrs.aop.AuthorizationAdvice:0")
		return false
	}
	writeError(req.w, http.StatusForbidden, "User is logged in but doesn't have the relevant privilege "+msg, "org.openmrs.aop.AuthorizationAdvice:0")
	return false
}

func notFound(w http.ResponseWriter) {
	// ObjectNotFoundException: its @ResponseStatus reason, then the
	// exception's null message in brackets.
	writeError(w, http.StatusNotFound, "Object with given uuid doesn't exist [null]", "org.openmrs.module.webservices.rest.web.resource.impl.DelegatingCrudResource:0")
}

// representation reads ?v=, falling back to def: REF for lists, DEFAULT
// for single objects, as MainResourceController does.
func representation(req *request, def string) (string, bool) {
	v, ok := req.URL.Query()["v"]
	if !ok {
		return def, true
	}
	switch strings.ToLower(v[0]) {
	case "ref", "default", "full":
		return strings.ToLower(v[0]), true
	case "":
		badRequest(req.w, "?v=(empty string) is not allowed")
	default:
		badRequest(req.w, "representation "+v[0]+" is not supported by the fake")
	}
	return "", false
}

func link(rel, uri, alias string) obj { return obj{"rel": rel, "uri": uri, "resourceAlias": alias} }

// pageLocked applies RequestContext's limit/startIndex to n results and
// builds the links NeedsPaging and BasePageableResult give. ok is false
// when it has answered with an error.
func (s *Server) pageLocked(req *request, n int) (start, end int, extra obj, ok bool) {
	q := req.URL.Query()
	limit := defaultLimit
	if v := q.Get("limit"); v != "" {
		l, err := strconv.Atoi(v)
		if err != nil {
			// Unverified: the real module's status for a non-numeric limit.
			badRequest(req.w, "For input string: \""+v+"\"")
			return 0, 0, nil, false
		}
		// RequestContext.setLimit throws APIException, which
		// BaseRestController maps to 500.
		if l <= 0 {
			writeError(req.w, http.StatusInternalServerError, "[If you specify a number of results to return, it must be >0 and not null]", "org.openmrs.module.webservices.rest.web.RequestContext:0")
			return 0, 0, nil, false
		}
		if l > s.maxResults {
			writeError(req.w, http.StatusInternalServerError, fmt.Sprintf("[Administrator has set absolute limit at %d]", s.maxResults), "org.openmrs.module.webservices.rest.web.RequestContext:0")
			return 0, 0, nil, false
		}
		limit = l
	}
	if v := q.Get("startIndex"); v != "" {
		st, err := strconv.Atoi(v)
		if err != nil || st < 0 {
			badRequest(req.w, "For input string: \""+v+"\"")
			return 0, 0, nil, false
		}
		start = st
	}
	end = min(start+limit, n)
	if start > n {
		start = n
		end = n
	}
	extra = obj{}
	var links []obj
	if n > start+limit {
		links = append(links, link("next", req.pageURI(start+limit), ""))
	}
	if start > 0 {
		links = append(links, link("prev", req.pageURI(max(start-limit, 0)), ""))
	}
	if links != nil {
		for _, l := range links {
			delete(l, "resourceAlias")
		}
		extra["links"] = links
	}
	if q.Get("totalCount") == "true" {
		extra["totalCount"] = n
	}
	return start, end, extra, true
}

// pageURI is RequestContext.getNextLink/getPreviousLink: scheme, host and
// path of the request, its parameters in order without startIndex, then
// startIndex (left out when 0, as the prev link does).
func (req *request) pageURI(startIndex int) string {
	var b strings.Builder
	b.WriteString(req.base + strings.TrimPrefix(req.URL.Path, webapp) + "?")
	seen := map[string]bool{}
	vals := req.URL.Query()
	for _, kv := range strings.Split(req.URL.RawQuery, "&") {
		k, _, _ := strings.Cut(kv, "=")
		k, _ = url.QueryUnescape(k)
		if k == "" || k == "startIndex" || seen[k] {
			continue
		}
		seen[k] = true
		for _, v := range vals[k] {
			b.WriteString(k + "=" + url.QueryEscape(v) + "&")
		}
	}
	if startIndex > 0 {
		b.WriteString("startIndex=" + strconv.Itoa(startIndex))
	}
	return b.String()
}

func list(results []any, extra obj) obj {
	out := obj{"results": results}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func formatDate(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(dateLayout)
}

func (s *Server) sessionLocked(req *request) {
	switch req.Method {
	case http.MethodGet:
	case http.MethodDelete:
		for id, sess := range s.sessions {
			if sess == req.sess {
				delete(s.sessions, id)
			}
		}
		req.w.WriteHeader(http.StatusNoContent)
		return
	default:
		badRequest(req.w, "only GET and DELETE /session are supported by the fake")
		return
	}
	// SessionController1_9.get: authenticated is the only way to tell a
	// bad password here; the status is 200 either way.
	out := obj{"authenticated": req.user != nil, "locale": "en_GB", "allowedLocales": []string{"en", "en_GB", "fr"}}
	if u := req.user; u != nil {
		privs := []any{}
		for _, p := range s.privilegesLocked(u) {
			privs = append(privs, obj{"uuid": s.privilegeUUID(p), "display": p, "name": p, "links": []obj{link("self", req.base+"/ws/rest/v1/privilege/"+s.privilegeUUID(p), "privilege")}})
		}
		roles := []any{}
		for _, rn := range u.Roles {
			r := s.roles[rn]
			roles = append(roles, obj{"uuid": r.uuid, "display": r.name, "name": r.name, "links": []obj{link("self", req.base+"/ws/rest/v1/role/"+r.uuid, "role")}})
		}
		out["user"] = obj{
			"uuid": u.UUID, "display": userDisplay(u), "username": u.Username, "systemId": u.SystemID,
			"userProperties": u.Properties,
			"person":         obj{"uuid": u.PersonUUID, "display": personDisplay(u)},
			"privileges":     privs, "roles": roles,
			"links": []obj{link("self", req.base+"/ws/rest/v1/user/"+u.UUID, "user")},
		}
		out["sessionLocation"] = nil
		out["currentProvider"] = nil
	}
	writeJSON(req.w, http.StatusOK, out)
}

// privilegeUUID gives each privilege name a stable uuid-shaped id.
func (s *Server) privilegeUUID(name string) string {
	var h [16]byte
	for i := 0; i < len(name); i++ {
		h[i%16] = h[i%16]*31 + name[i]
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func userDisplay(u *User) string {
	if u.Username != "" {
		return u.Username
	}
	return u.SystemID
}

func personDisplay(u *User) string { return strings.TrimSpace(u.GivenName + " " + u.FamilyName) }

func (s *Server) userRefLocked(req *request, u *User) obj {
	o := obj{"uuid": u.UUID, "display": userDisplay(u)}
	if u.Retired {
		o["retired"] = true
	}
	o["links"] = []obj{link("self", req.base+"/ws/rest/v1/user/"+u.UUID, "user")}
	return o
}

func (s *Server) roleRepLocked(req *request, r *role, rep string) obj {
	self := link("self", req.base+"/ws/rest/v1/role/"+r.uuid, "role")
	if rep == "ref" {
		return obj{"uuid": r.uuid, "display": r.name, "links": []obj{self}}
	}
	names := make([]string, 0, len(r.privileges))
	for p := range r.privileges {
		names = append(names, p)
	}
	sort.Strings(names)
	privs := []any{}
	for _, p := range names {
		privs = append(privs, obj{"uuid": s.privilegeUUID(p), "display": p, "links": []obj{link("self", req.base+"/ws/rest/v1/privilege/"+s.privilegeUUID(p), "privilege")}})
	}
	o := obj{"uuid": r.uuid, "display": r.name, "name": r.name, "description": r.description, "retired": false,
		"privileges": privs, "inheritedRoles": []any{}}
	if rep == "full" {
		o["allInheritedRoles"] = []any{}
		o["links"] = []obj{self}
	} else {
		o["links"] = []obj{self, link("full", req.base+"/ws/rest/v1/role/"+r.uuid+"?v=full", "role")}
	}
	return o
}

func (s *Server) personRepLocked(req *request, u *User, rep string) obj {
	self := link("self", req.base+"/ws/rest/v1/person/"+u.PersonUUID, "person")
	if rep == "ref" {
		return obj{"uuid": u.PersonUUID, "display": personDisplay(u), "links": []obj{self}}
	}
	nameUUID := s.privilegeUUID("name:" + u.PersonUUID)
	nameSelf := link("self", req.base+"/ws/rest/v1/person/"+u.PersonUUID+"/name/"+nameUUID, "name")
	o := obj{"uuid": u.PersonUUID, "display": personDisplay(u), "gender": nil, "age": nil, "birthdate": nil,
		"birthdateEstimated": false, "dead": false, "deathDate": nil, "causeOfDeath": nil,
		"preferredAddress": nil, "attributes": []any{}, "voided": false}
	if rep == "full" {
		o["preferredName"] = obj{"display": personDisplay(u), "uuid": nameUUID, "givenName": u.GivenName, "middleName": nil,
			"familyName": u.FamilyName, "familyName2": nil, "voided": false, "links": []obj{nameSelf}}
		o["names"] = []any{o["preferredName"]}
		o["addresses"] = []any{}
		o["auditInfo"] = s.auditLocked(req, u, false)
		o["links"] = []obj{self}
	} else {
		o["preferredName"] = obj{"uuid": nameUUID, "display": personDisplay(u), "links": []obj{nameSelf}}
		o["links"] = []obj{self, link("full", req.base+"/ws/rest/v1/person/"+u.PersonUUID+"?v=full", "person")}
	}
	return o
}

// auditLocked is ConversionUtil.getAuditInfo: retirement fields only while
// retired.
func (s *Server) auditLocked(req *request, u *User, retirable bool) obj {
	var creator any
	if len(s.users) > 0 {
		creator = s.userRefLocked(req, s.users[0])
	}
	a := obj{"creator": creator, "dateCreated": formatDate(u.Created), "changedBy": nil, "dateChanged": formatDate(u.Changed)}
	if retirable && u.Retired {
		var by any
		if rb := s.byUUID[u.RetiredBy]; rb != nil {
			by = s.userRefLocked(req, rb)
		}
		a["retiredBy"] = by
		a["dateRetired"] = formatDate(u.DateRetired)
		a["retireReason"] = u.RetireReason
	}
	return a
}

// userRepLocked is UserResource2_2's representations.
func (s *Server) userRepLocked(req *request, u *User, rep string) obj {
	if rep == "ref" {
		return s.userRefLocked(req, u)
	}
	sub := "ref"
	if rep == "full" {
		sub = "default"
	}
	self := link("self", req.base+"/ws/rest/v1/user/"+u.UUID, "user")
	privs := []any{}
	for _, p := range s.privilegesLocked(u) {
		privs = append(privs, obj{"uuid": s.privilegeUUID(p), "display": p, "links": []obj{link("self", req.base+"/ws/rest/v1/privilege/"+s.privilegeUUID(p), "privilege")}})
	}
	roles := []any{}
	for _, rn := range u.Roles {
		roles = append(roles, s.roleRepLocked(req, s.roles[rn], sub))
	}
	var email any
	if u.Email != "" {
		email = u.Email
	}
	o := obj{"uuid": u.UUID, "display": userDisplay(u), "username": u.Username, "systemId": u.SystemID,
		"userProperties": u.Properties, "person": s.personRepLocked(req, u, sub), "privileges": privs,
		"roles": roles, "retired": u.Retired, "email": email}
	if rep == "full" {
		o["allRoles"] = roles
		o["proficientLocales"] = []any{}
		o["auditInfo"] = s.auditLocked(req, u, true)
		o["links"] = []obj{self}
	} else {
		o["links"] = []obj{self, link("full", req.base+"/ws/rest/v1/user/"+u.UUID+"?v=full", "user")}
	}
	return o
}

func (s *Server) listUsersLocked(req *request) {
	if !s.requireLocked(req, PrivGetUsers) {
		return
	}
	for k := range req.URL.Query() {
		switch k {
		case "v", "limit", "startIndex", "totalCount", "includeAll":
		default:
			badRequest(req.w, "searching users by "+k+" is not supported by the fake")
			return
		}
	}
	rep, ok := representation(req, "ref")
	if !ok {
		return
	}
	start, end, extra, ok := s.pageLocked(req, len(s.users))
	if !ok {
		return
	}
	results := make([]any, 0, end-start)
	for _, u := range s.users[start:end] {
		results = append(results, s.userRepLocked(req, u, rep))
	}
	writeJSON(req.w, http.StatusOK, list(results, extra))
}

func (s *Server) getUserLocked(req *request, id string) {
	if !s.requireLocked(req, PrivGetUsers) {
		return
	}
	u := s.byUUID[id]
	if u == nil {
		notFound(req.w)
		return
	}
	rep, ok := representation(req, "default")
	if !ok {
		return
	}
	writeJSON(req.w, http.StatusOK, s.userRepLocked(req, u, rep))
}

// deleteUserLocked is MainResourceController.delete / purge with
// UserResource1_8. Its "already retired" test looks at the
// UserAndPassword wrapper, never set, so a retired user is retired again:
// reason, date and retiredBy are overwritten, and the answer is 204.
func (s *Server) deleteUserLocked(req *request, id string) {
	q := req.URL.Query()
	if p, has := q["purge"]; has {
		if p[0] != "true" {
			badRequest(req.w, "purge must be true when given")
			return
		}
		// purge: getByUniqueId, then purgeUser (Purge Users).
		if !s.requireLocked(req, PrivGetUsers) {
			return
		}
		u := s.byUUID[id]
		if u == nil {
			req.w.WriteHeader(http.StatusNoContent) // DELETE is idempotent
			return
		}
		if !s.requireLocked(req, PrivPurgeUsers) {
			return
		}
		s.retirements = append(s.retirements, Retirement{Action: "purge", UUID: id, By: req.user.UUID, At: time.Now().UTC(), WasRetired: u.Retired})
		s.removeUserLocked(u)
		req.w.WriteHeader(http.StatusNoContent)
		return
	}
	if !s.requireLocked(req, PrivGetUsers) {
		return
	}
	u := s.byUUID[id]
	if u == nil {
		notFound(req.w)
		return
	}
	if !s.requireLocked(req, PrivEditUsers) {
		return
	}
	reason := q.Get("reason")
	if _, has := q["reason"]; !has {
		reason = "web service call" // @RequestParam defaultValue
	}
	now := time.Now().UTC()
	s.retirements = append(s.retirements, Retirement{Action: "retire", UUID: id, Reason: reason, By: req.user.UUID, At: now, WasRetired: u.Retired})
	u.Retired, u.RetireReason, u.RetiredBy, u.DateRetired, u.Changed = true, reason, req.user.UUID, now, now
	req.w.WriteHeader(http.StatusNoContent)
}

func (s *Server) removeUserLocked(u *User) {
	for i, x := range s.users {
		if x == u {
			s.users = append(s.users[:i], s.users[i+1:]...)
			break
		}
	}
	delete(s.byUUID, u.UUID)
	delete(s.personIndex, u.PersonUUID)
	if u.Username != "" {
		delete(s.byUsername, u.Username)
	}
}

// updateUserLocked is MainResourceController.update for users.
func (s *Server) updateUserLocked(req *request, id string) {
	var body map[string]any
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil || body == nil {
		writeError(req.w, http.StatusBadRequest, "[Could not read JSON]", "org.springframework.http.converter.HttpMessageNotReadableException:0")
		return
	}
	if !s.requireLocked(req, PrivGetUsers) {
		return
	}
	u := s.byUUID[id]
	if u == nil {
		notFound(req.w)
		return
	}
	if d, ok := body["deleted"]; ok && d == "false" && len(body) == 1 {
		// The undelete branch: MetadataDelegatingCrudResource.undelete
		// checks the wrapper's retired flag, always false, so nothing is
		// saved and the user comes back unchanged, still retired.
		s.retirements = append(s.retirements, Retirement{Action: "undelete-ignored", UUID: id, By: req.user.UUID, At: time.Now().UTC(), WasRetired: u.Retired})
		writeJSON(req.w, http.StatusOK, s.userRepLocked(req, u, "default"))
		return
	}
	retired, hasRetired := body["retired"]
	for k := range body {
		if k != "retired" {
			badRequest(req.w, "updating the user property "+k+" is not supported by the fake")
			return
		}
	}
	if !hasRetired {
		badRequest(req.w, "nothing to update")
		return
	}
	var want bool
	switch v := retired.(type) {
	case bool:
		want = v
	case string:
		b, err := strconv.ParseBool(v)
		if err != nil {
			badRequest(req.w, "Couldn't convert "+v+" to boolean")
			return
		}
		want = b
	default:
		badRequest(req.w, fmt.Sprintf("Couldn't convert %v to boolean", v))
		return
	}
	// saveUser needs Edit Users.
	if !s.requireLocked(req, PrivEditUsers) {
		return
	}
	now := time.Now().UTC()
	if want {
		if !u.Retired {
			// Unverified: core's validation of a retire without reason
			// through an update; the fake refuses it like a failed save.
			badRequest(req.w, "retireReason is required when retiring")
			return
		}
	} else {
		s.retirements = append(s.retirements, Retirement{Action: "unretire", UUID: id, By: req.user.UUID, At: now, WasRetired: u.Retired})
		// RetireSaveHandler clears the retirement fields when retired is
		// false.
		u.Retired, u.RetireReason, u.RetiredBy, u.DateRetired = false, "", "", time.Time{}
	}
	u.Changed = now
	writeJSON(req.w, http.StatusOK, s.userRepLocked(req, u, "default"))
}

func (s *Server) getPersonLocked(req *request, id string) {
	// Unverified: PersonResource relies on PersonService.getPersonByUuid's
	// @Authorized(Get People).
	if !s.requireLocked(req, PrivGetPeople) {
		return
	}
	u := s.personIndex[id]
	if u == nil {
		notFound(req.w)
		return
	}
	rep, ok := representation(req, "default")
	if !ok {
		return
	}
	writeJSON(req.w, http.StatusOK, s.personRepLocked(req, u, rep))
}

func (s *Server) listRolesLocked(req *request) {
	if !s.requireLocked(req, PrivGetRoles) {
		return
	}
	rep, ok := representation(req, "ref")
	if !ok {
		return
	}
	start, end, extra, ok := s.pageLocked(req, len(s.roleOrder))
	if !ok {
		return
	}
	results := []any{}
	for _, name := range s.roleOrder[start:end] {
		results = append(results, s.roleRepLocked(req, s.roles[name], rep))
	}
	writeJSON(req.w, http.StatusOK, list(results, extra))
}

func (s *Server) listSettingsLocked(req *request) {
	if !s.requireLocked(req, PrivGetGlobalProperties) {
		return
	}
	rep, ok := representation(req, "ref")
	if !ok {
		return
	}
	prefix := strings.ToLower(req.URL.Query().Get("q"))
	var names []string
	for name := range s.settings {
		if strings.HasPrefix(strings.ToLower(name), prefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	start, end, extra, ok := s.pageLocked(req, len(names))
	if !ok {
		return
	}
	results := []any{}
	for _, name := range names[start:end] {
		id := s.privilegeUUID("gp:" + name)
		value := s.settings[name]
		section, short := "General Settings", name
		if i := strings.Index(name, "."); i > 0 {
			section, short = name[:i], name[i+1:]
		}
		self := link("self", req.base+"/ws/rest/v1/systemsetting/"+id, "systemsetting")
		o := obj{"uuid": id, "display": section + " - " + short + " = " + value}
		if rep != "ref" {
			o["property"], o["value"], o["description"] = name, value, nil
		}
		switch rep {
		case "ref":
			o["links"] = []obj{self}
		case "default":
			o["links"] = []obj{self, link("full", req.base+"/ws/rest/v1/systemsetting/"+id+"?v=full", "systemsetting")}
		case "full":
			o["datatypeClassname"], o["datatypeConfig"], o["preferredHandlerClassname"], o["handlerConfig"] = nil, nil, nil, nil
			o["links"] = []obj{self}
		}
		results = append(results, o)
	}
	writeJSON(req.w, http.StatusOK, list(results, extra))
}

var dateInputLayouts = []string{dateLayout, "2006-01-02T15:04:05.000", "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"}

// createAlertLocked is AlertResource2_0's create.
func (s *Server) createAlertLocked(req *request) {
	var body map[string]any
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil || body == nil {
		writeError(req.w, http.StatusBadRequest, "[Could not read JSON]", "org.springframework.http.converter.HttpMessageNotReadableException:0")
		return
	}
	if req.user == nil {
		s.requireLocked(req, PrivManageAlerts)
		return
	}
	for k := range body {
		switch k {
		case "text", "recipients", "satisfiedByAny", "dateToExpire":
		default:
			badRequest(req.w, "Some properties are not allowed to be set: "+k)
			return
		}
	}
	text, _ := body["text"].(string)
	recips, _ := body["recipients"].([]any)
	if text == "" || body["recipients"] == nil {
		badRequest(req.w, "Some required properties are missing: text, recipients")
		return
	}
	if len(recips) == 0 {
		writeError(req.w, http.StatusBadRequest, "The Resource Does not Support the Requested Operation [At least one recipient is required]", "org.openmrs.module.webservices.rest.web.v1_0.resource.openmrs2_0.AlertResource2_0:0")
		return
	}
	a := Alert{UUID: newUUID(), Text: text, CreatedBy: req.user.UUID}
	for _, r := range recips {
		// AlertRecipient's shape is {"recipient": "<user uuid>"}; a bare
		// string would be read as an AlertRecipient uuid. Unverified:
		// the real status for an unknown user (the fake says 400).
		m, ok := r.(map[string]any)
		uuid, _ := m["recipient"].(string)
		if !ok || uuid == "" || s.byUUID[uuid] == nil {
			badRequest(req.w, fmt.Sprintf("recipient %v is not {\"recipient\": \"<known user uuid>\"}", r))
			return
		}
		a.Recipients = append(a.Recipients, uuid)
	}
	if v, ok := body["satisfiedByAny"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			badRequest(req.w, fmt.Sprintf("Couldn't convert %v to boolean", v))
			return
		}
		a.SatisfiedByAny = b
	}
	if v, ok := body["dateToExpire"]; ok && v != nil {
		str, _ := v.(string)
		var err error = fmt.Errorf("not a string")
		for _, l := range dateInputLayouts {
			var t time.Time
			if t, err = time.Parse(l, str); err == nil {
				a.DateToExpire = t
				break
			}
		}
		if err != nil {
			badRequest(req.w, "Error converting date - correct format (ISO8601 Long): yyyy-MM-dd'T'HH:mm:ss.SSSZ")
			return
		}
	}
	if !s.requireLocked(req, PrivManageAlerts) {
		return
	}
	s.alerts = append(s.alerts, a)
	rec := []any{}
	for _, r := range a.Recipients {
		rec = append(rec, obj{"uuid": s.privilegeUUID("ar:" + a.UUID + r), "display": userDisplay(s.byUUID[r])})
	}
	w := req.w
	w.Header().Set("Location", req.base+"/ws/rest/v1/alert/"+a.UUID)
	writeJSON(w, http.StatusCreated, obj{"uuid": a.UUID, "display": a.Text, "alertId": len(s.alerts), "text": a.Text,
		"satisfiedByAny": a.SatisfiedByAny, "dateToExpire": formatDate(a.DateToExpire), "alertRead": false, "recipients": rec,
		"links": []obj{link("self", req.base+"/ws/rest/v1/alert/"+a.UUID, "alert"), link("full", req.base+"/ws/rest/v1/alert/"+a.UUID+"?v=full", "alert")}})
}

func (s *Server) systemInformationLocked(req *request) {
	if !s.requireLocked(req, PrivViewAdminFunctions) {
		return
	}
	now := time.Now()
	writeJSON(req.w, http.StatusOK, obj{"systemInfo": obj{
		"SystemInfo.title.openmrsInformation": obj{
			"SystemInfo.OpenMRSInstallation.systemDate":     now.Format("2006-01-02"),
			"SystemInfo.OpenMRSInstallation.systemTime":     now.Format("15:04:05"),
			"SystemInfo.OpenMRSInstallation.openmrsVersion": s.version,
			"SystemInfo.hostname":                           "openmrstest",
		},
	}})
}

func (s *Server) listTasksLocked(req *request) {
	if !s.requireLocked(req, PrivManageScheduler) {
		return
	}
	rep, ok := representation(req, "ref")
	if !ok {
		return
	}
	start, end, extra, ok := s.pageLocked(req, len(s.tasks))
	if !ok {
		return
	}
	results := []any{}
	for _, t := range s.tasks[start:end] {
		id := s.privilegeUUID("task:" + t.Name)
		o := obj{"uuid": id, "name": t.Name, "description": nil, "taskClass": t.TaskClass,
			"links": []obj{link("self", req.base+"/ws/rest/v1/taskdefinition/"+id, "taskdefinition")}}
		if rep != "ref" {
			o["startTime"], o["started"] = nil, t.Started
		}
		results = append(results, o)
	}
	writeJSON(req.w, http.StatusOK, list(results, extra))
}
