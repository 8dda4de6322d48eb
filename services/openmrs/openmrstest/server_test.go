package openmrstest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/dormant-dev/dormant/services/openmrs/openmrstest"
)

// raw sends one request as OpenMRS's own clients would and decodes JSON.
func raw(t *testing.T, method, url, user, pass, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp, out
}

func TestFakeBehavesLikeOpenMRS(t *testing.T) {
	s := openmrstest.New()
	defer s.Close()
	api := s.URL() + "/ws/rest/v1"
	for range 120 {
		s.AddUser(openmrstest.UserSpec{})
	}
	id := s.AddUser(openmrstest.UserSpec{Username: "victim", Password: "pw"})

	t.Run("bad credentials on /session are 200 authenticated false", func(t *testing.T) {
		resp, out := raw(t, "GET", api+"/session", "admin", "wrong", "")
		if resp.StatusCode != 200 || out["authenticated"] != false {
			t.Fatalf("%d %v", resp.StatusCode, out)
		}
	})
	t.Run("unauthenticated list is 401 with the error body and a challenge", func(t *testing.T) {
		resp, out := raw(t, "GET", api+"/user", "", "", "")
		e, _ := out["error"].(map[string]any)
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" || !strings.HasPrefix(e["message"].(string), "User is not logged in [Privileges required: Get Users]") {
			t.Fatalf("%d %v", resp.StatusCode, out)
		}
	})
	t.Run("paging caps, defaults and links like RequestContext", func(t *testing.T) {
		resp, out := raw(t, "GET", api+"/user?v=default", "admin", "Admin123", "")
		if resp.StatusCode != 200 || len(out["results"].([]any)) != 50 {
			t.Fatalf("default limit: %d, %d results", resp.StatusCode, len(out["results"].([]any)))
		}
		links := out["links"].([]any)
		next := links[0].(map[string]any)
		if next["rel"] != "next" || next["uri"] != api+"/user?v=default&startIndex=50" {
			t.Fatalf("next link %v", next)
		}
		_, out = raw(t, "GET", api+"/user?limit=100&startIndex=100", "admin", "Admin123", "")
		links = out["links"].([]any)
		if len(out["results"].([]any)) != 22 || len(links) != 1 || links[0].(map[string]any)["rel"] != "prev" {
			t.Fatalf("last page: %v", out)
		}
		resp, _ = raw(t, "GET", api+"/user?limit=101", "admin", "Admin123", "")
		if resp.StatusCode != 500 {
			t.Fatalf("limit over maxResultsAbsolute: %d", resp.StatusCode)
		}
	})
	t.Run("deleted false does not unretire a user", func(t *testing.T) {
		raw(t, "DELETE", api+"/user/"+id+"?reason=x", "admin", "Admin123", "")
		resp, out := raw(t, "POST", api+"/user/"+id, "admin", "Admin123", `{"deleted": "false"}`)
		if u, _ := s.User(id); resp.StatusCode != 200 || out["retired"] != true || !u.Retired {
			t.Fatalf("%d %v", resp.StatusCode, out)
		}
	})
	t.Run("retired users cannot log in", func(t *testing.T) {
		_, out := raw(t, "GET", api+"/session", "victim", "pw", "")
		if out["authenticated"] != false {
			t.Fatal("retired user authenticated")
		}
	})
	t.Run("purge deletes the user and is recorded", func(t *testing.T) {
		resp, _ := raw(t, "DELETE", api+"/user/"+id+"?purge=true", "admin", "Admin123", "")
		if _, ok := s.User(id); resp.StatusCode != 204 || ok {
			t.Fatalf("%d, still there: %v", resp.StatusCode, ok)
		}
		rs := s.Retirements()
		if rs[len(rs)-1].Action != "purge" {
			t.Fatalf("%+v", rs)
		}
	})
}
