package events_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/dormant-dev/dormant/events"
	"github.com/dormant-dev/dormant/events/eventstest"
)

type asyncAPI struct {
	AsyncAPI string `yaml:"asyncapi"`
	Channels map[string]struct {
		Address string `yaml:"address"`
	} `yaml:"channels"`
	Operations map[string]struct {
		Action string `yaml:"action"`
	} `yaml:"operations"`
}

// collectRefs gathers every $ref value in a YAML tree.
func collectRefs(n any, out *[]string) {
	switch v := n.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "$ref" {
				*out = append(*out, s)
			}
			collectRefs(x, out)
		}
	case []any:
		for _, x := range v {
			collectRefs(x, out)
		}
	}
}

func TestAsyncAPIMatchesTheContract(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(eventstest.SchemaDir(), "asyncapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc asyncAPI
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse asyncapi.yaml: %v", err)
	}
	if doc.AsyncAPI != "3.0.0" {
		t.Errorf("asyncapi version %q", doc.AsyncAPI)
	}
	var tree any
	_ = yaml.Unmarshal(raw, &tree)
	var refs []string
	collectRefs(tree, &refs)
	for _, typ := range events.Types() {
		if !slices.Contains(refs, "./"+events.SchemaFile(typ)) {
			t.Errorf("asyncapi.yaml does not reference %s", events.SchemaFile(typ))
		}
	}

	ns := events.DefaultNamespace
	want := map[string]bool{ns.DLQ("{origin}"): true}
	for typ, d := range events.FullSamples() {
		addr := ns.SubjectFor("{site}", d)
		if addr == "" {
			t.Errorf("%s has no subject", typ)
		}
		want[addr] = true
	}
	got := map[string]bool{}
	for id, ch := range doc.Channels {
		if !want[ch.Address] {
			t.Errorf("channel %s: address %q is not a subject of events.Namespace", id, ch.Address)
		}
		got[ch.Address] = true
	}
	for addr := range want {
		if !got[addr] {
			t.Errorf("no channel for %s", addr)
		}
	}
	sends := 0
	for id, op := range doc.Operations {
		if op.Action != "send" && op.Action != "receive" {
			t.Errorf("operation %s: action %q", id, op.Action)
		}
		if op.Action == "send" {
			sends++
		}
	}
	if sends < len(events.Types()) {
		t.Errorf("%d send operations for %d event types", sends, len(events.Types()))
	}
	if !strings.Contains(string(raw), events.HeaderDLQReason) {
		t.Errorf("asyncapi.yaml does not name the DLQ reason header %s", events.HeaderDLQReason)
	}
}
