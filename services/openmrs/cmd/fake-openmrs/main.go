// Command fake-openmrs serves the fake OpenMRS REST server (package openmrstest) on a given
// address as a process of its own, so a test harness can run it beside the real binaries and
// keep it alive while it kills them.
//
//	fake-openmrs -addr 127.0.0.1:8090 -seed users.json
//
// The REST API is at http://ADDR/openmrs/ws/rest/v1, with the super user admin/Admin123. A
// small control API under /_fake/ seeds, inspects and breaks it while it runs:
//
//	GET    /_fake/users        every user: uuid, username, retired, ...
//	POST   /_fake/users        add one user (a UserSpec as JSON); answers {"uuid": ...}
//	GET    /_fake/retirements  the log of retire, unretire and purge requests
//	POST   /_fake/faults       add a fault (openmrstest.Fault as JSON)
//	DELETE /_fake/faults       clear every fault
//	POST   /_fake/latency?d=2s delay every answer (d=0 ends it)
//	POST   /_fake/sessions/expire  end every session, as an OpenMRS restart does
//
// The seed file is JSON: {"roles": {"name": ["privilege", ...]}, "settings": {"name": "value"},
// "users": [UserSpec, ...], "max_results": 100}. UserSpec's fields keep their Go names
// (Username, Password, Roles, Created, ...).
//
// The fake itself listens on a loopback port of its own; this process forwards to it so the
// fake stays exactly the package the tests use (links carry this address: the fake builds
// them from the request's Host, which the forwarding keeps).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
)

// registry is the fake with the list of its users' uuids, which the fake package does not
// give out: every user reaches it through this process, so it is complete.
type registry struct {
	*openmrstest.Server
	mu    sync.Mutex
	uuids []string
}

// AddUser seeds a user and remembers its uuid.
func (r *registry) AddUser(u openmrstest.UserSpec) string {
	uuid := r.Server.AddUser(u)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.uuids = append(r.uuids, uuid)
	return uuid
}

// UserUUIDs lists every user's uuid in creation order.
func (r *registry) UserUUIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.uuids...)
}

// Seed is the content of the -seed file.
type Seed struct {
	Roles      map[string][]string    `json:"roles"`
	Settings   map[string]string      `json:"settings"`
	Users      []openmrstest.UserSpec `json:"users"`
	MaxResults int                    `json:"max_results"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fake-openmrs:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8090", "address to listen on (loopback only for tests)")
	seedFile := flag.String("seed", "", "JSON seed file (roles, settings, users)")
	var users userFlags
	flag.Var(&users, "user", "seed a user username:password[:role,role] (repeatable)")
	flag.Parse()

	fake := &registry{Server: openmrstest.New()}
	defer fake.Close()
	fake.uuids = []string{fake.UserUUID("admin")}
	if *seedFile != "" {
		if err := seedFrom(fake, *seedFile); err != nil {
			return err
		}
	}
	for _, u := range users {
		fake.AddUser(u)
	}

	target, err := url.Parse(fake.URL())
	if err != nil {
		return err
	}
	target.Path = ""
	proxy := httputil.NewSingleHostReverseProxy(target)
	// No reused connections: Go's transport silently retries an idempotent request whose
	// reused connection closed, which would hide the fake's dropped-connection faults.
	proxy.Transport = &http.Transport{DisableKeepAlives: true}
	// A fault that drops the connection reaches the client as a 502 here rather than an EOF:
	// both are "OpenMRS is failing" to a client, which retries either way.
	proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		http.Error(w, "fake-openmrs: upstream dropped the connection: "+err.Error(), http.StatusBadGateway)
	}
	mux := http.NewServeMux()
	control(mux, fake)
	mux.Handle("/", proxy)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("fake-openmrs listening on http://%s/openmrs\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func seedFrom(fake *registry, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read seed: %w", err)
	}
	var s Seed
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("seed %s: %w", path, err)
	}
	for name, privs := range s.Roles {
		fake.AddRole(name, privs...)
	}
	for k, v := range s.Settings {
		fake.SetSystemSetting(k, v)
	}
	if s.MaxResults > 0 {
		fake.SetMaxResults(s.MaxResults)
	}
	for _, u := range s.Users {
		if fake.UserUUID(u.Username) != "" {
			return fmt.Errorf("seed %s: duplicate username %q", path, u.Username)
		}
		fake.AddUser(u)
	}
	return nil
}

// UserView is one user as GET /_fake/users lists it.
type UserView struct {
	UUID         string    `json:"uuid"`
	Username     string    `json:"username"`
	SystemID     string    `json:"system_id"`
	Retired      bool      `json:"retired"`
	RetireReason string    `json:"retire_reason,omitempty"`
	Created      time.Time `json:"created"`
}

func control(mux *http.ServeMux, fake *registry) {
	mux.HandleFunc("GET /_fake/users", func(w http.ResponseWriter, r *http.Request) {
		var out []UserView
		for _, uuid := range fake.UserUUIDs() {
			u, ok := fake.User(uuid)
			if !ok {
				continue
			}
			out = append(out, UserView{UUID: u.UUID, Username: u.Username, SystemID: u.SystemID, Retired: u.Retired, RetireReason: u.RetireReason, Created: u.Created})
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("POST /_fake/users", func(w http.ResponseWriter, r *http.Request) {
		var u openmrstest.UserSpec
		if err := json.NewDecoder(r.Body).Decode(&u); err != nil || u.Username == "" {
			http.Error(w, "want a UserSpec with a Username", http.StatusBadRequest)
			return
		}
		if fake.UserUUID(u.Username) != "" {
			http.Error(w, "duplicate username", http.StatusConflict)
			return
		}
		writeJSON(w, map[string]string{"uuid": fake.AddUser(u)})
	})
	mux.HandleFunc("GET /_fake/retirements", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, fake.Retirements())
	})
	mux.HandleFunc("POST /_fake/faults", func(w http.ResponseWriter, r *http.Request) {
		var f openmrstest.Fault
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			http.Error(w, "want a Fault as JSON", http.StatusBadRequest)
			return
		}
		fake.InjectFault(f)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /_fake/faults", func(w http.ResponseWriter, r *http.Request) {
		fake.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_fake/latency", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil || d < 0 {
			http.Error(w, "want ?d=<Go duration>", http.StatusBadRequest)
			return
		}
		fake.SetLatency(d)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_fake/sessions/expire", func(w http.ResponseWriter, r *http.Request) {
		fake.ExpireSessions()
		w.WriteHeader(http.StatusNoContent)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// userFlags are -user username:password[:role,role] flags.
type userFlags []openmrstest.UserSpec

func (u *userFlags) String() string { return fmt.Sprint(len(*u), " users") }

func (u *userFlags) Set(v string) error {
	var name, pass, roles string
	parts := strings.SplitN(v, ":", 3)
	switch len(parts) {
	case 3:
		roles = parts[2]
		fallthrough
	case 2:
		name, pass = parts[0], parts[1]
	default:
		return errors.New("want username:password[:role,role]")
	}
	spec := openmrstest.UserSpec{Username: name, Password: pass}
	if roles != "" {
		spec.Roles = strings.Split(roles, ",")
	}
	*u = append(*u, spec)
	return nil
}
