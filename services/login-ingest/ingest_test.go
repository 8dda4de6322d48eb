package ingest_test

import (
	"testing"
	"time"

	ingest "github.com/dormant-dev/dormant/services/login-ingest"
)

func TestCoalesce(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   []ingest.Login
		want []ingest.Login
	}{
		{"empty stays empty", nil, []ingest.Login{}},
		{"the latest login of a user wins, with its username and location",
			[]ingest.Login{
				{Site: "a", UserUUID: "u1", Username: "old", LocationUUID: "l1", At: t0.Add(time.Hour)},
				{Site: "a", UserUUID: "u1", Username: "new", LocationUUID: "l2", At: t0.Add(2 * time.Hour)},
				{Site: "a", UserUUID: "u1", Username: "older", At: t0},
			},
			[]ingest.Login{{Site: "a", UserUUID: "u1", Username: "new", LocationUUID: "l2", At: t0.Add(2 * time.Hour)}}},
		{"the same user at two sites stays two users, sorted by site then user",
			[]ingest.Login{
				{Site: "b", UserUUID: "u1", At: t0},
				{Site: "a", UserUUID: "u2", At: t0},
				{Site: "a", UserUUID: "u1", At: t0},
			},
			[]ingest.Login{{Site: "a", UserUUID: "u1", At: t0}, {Site: "a", UserUUID: "u2", At: t0}, {Site: "b", UserUUID: "u1", At: t0}}},
		{"logins at the same instant resolve the same whatever their order",
			[]ingest.Login{
				{Site: "a", UserUUID: "u1", Username: "b", LocationUUID: "l1", At: t0},
				{Site: "a", UserUUID: "u1", Username: "c", LocationUUID: "l1", At: t0},
				{Site: "a", UserUUID: "u1", Username: "c", LocationUUID: "l2", At: t0},
				{Site: "a", UserUUID: "u1", Username: "a", LocationUUID: "l3", At: t0},
			},
			[]ingest.Login{{Site: "a", UserUUID: "u1", Username: "c", LocationUUID: "l2", At: t0}}},
		{"times are kept in UTC",
			[]ingest.Login{{Site: "a", UserUUID: "u1", At: t0.In(time.FixedZone("EAT", 3*3600))}},
			[]ingest.Login{{Site: "a", UserUUID: "u1", At: t0}}},
		{"nanoseconds are cut to the microseconds databases keep",
			[]ingest.Login{{Site: "a", UserUUID: "u1", At: t0.Add(1500 * time.Nanosecond)}},
			[]ingest.Login{{Site: "a", UserUUID: "u1", At: t0.Add(time.Microsecond)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Every rotation of the input must give the same answer.
			for r := 0; r < max(1, len(tc.in)); r++ {
				in := append(append([]ingest.Login(nil), tc.in[r:]...), tc.in[:r]...)
				got := ingest.Coalesce(in)
				if len(got) != len(tc.want) {
					t.Fatalf("got %d logins, want %d: %+v", len(got), len(tc.want), got)
				}
				for i := range got {
					// == on time.Time also compares the location, so UTC is checked too.
					if got[i] != tc.want[i] {
						t.Errorf("input rotated by %d: login %d = %+v, want %+v", r, i, got[i], tc.want[i])
					}
				}
			}
		})
	}
}
