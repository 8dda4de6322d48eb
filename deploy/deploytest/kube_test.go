package deploytest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func kubeDir(t *testing.T) string { return filepath.Join(repo(t), "deploy/kubernetes") }

// notManifests are the files of deploy/kubernetes that are not Kubernetes objects.
var notManifests = []string{"kustomization.yaml", "nats-values.yaml"}

// TestKubernetesManifests: every manifest decodes strictly into the k8s.io/api types, and the
// Deployments agree with the code (probes on the routes the server has, ports, env keys, the
// sites file in the ConfigMap, secrets present).
func TestKubernetesManifests(t *testing.T) {
	m, err := ReadManifests(kubeDir(t), notManifests...)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range m.Deployments {
		names = append(names, d.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"login-ingest", "policy"}) {
		t.Fatalf("Deployments %v, want login-ingest and policy", names)
	}
	if len(m.PDBs) != 2 || len(m.Services) != 2 || len(m.ConfigMaps) != 2 || len(m.Secrets) != 1 {
		t.Fatalf("%d PodDisruptionBudgets, %d Services, %d ConfigMaps, %d Secrets", len(m.PDBs), len(m.Services), len(m.ConfigMaps), len(m.Secrets))
	}
	if err := CheckManifests(m); err != nil {
		t.Fatal(err)
	}
}

// TestKustomizationListsTheManifests: `kubectl apply -k` applies every manifest but the
// example Secret (which must never overwrite a real one).
func TestKustomizationListsTheManifests(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(kubeDir(t), "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k Kustomization
	if err := DecodeStrict(raw, &k); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifests(kubeDir(t), notManifests...)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.DeleteFunc(slices.Clone(m.Files), func(f string) bool { return f == "secret.example.yaml" })
	got := slices.Sorted(slices.Values(k.Resources))
	if !slices.Equal(got, want) {
		t.Errorf("kustomization resources %v, want %v", got, want)
	}
	if k.Namespace != "dormant" {
		t.Errorf("namespace %q", k.Namespace)
	}
	images := map[string]bool{}
	for _, i := range k.Images {
		images[i.Name] = true
	}
	for _, d := range m.Deployments {
		if img := d.Spec.Template.Spec.Containers[0].Image; !images[imageName(img)] {
			t.Errorf("Deployment %s: image %s has no entry under images:", d.Name, img)
		}
	}
}

func imageName(ref string) string {
	for i := len(ref) - 1; i >= 0 && ref[i] != '/'; i-- {
		if ref[i] == ':' {
			return ref[:i]
		}
	}
	return ref
}

// TestNATSChartValues: the NATS chart runs a JetStream cluster on persistent volumes that the
// services' stream replicas and URL fit.
func TestNATSChartValues(t *testing.T) {
	v, err := ReadNATSValues(filepath.Join(kubeDir(t), "nats-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifests(kubeDir(t), notManifests...)
	if err != nil {
		t.Fatal(err)
	}
	cm, ok := m.configMap("dormant-env")
	if !ok {
		t.Fatal("no ConfigMap dormant-env")
	}
	if err := CheckNATS(v, cm.Data, "nats"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		v       NATSValues
		env     map[string]string
		wantErr string
	}{
		{"memory store", NATSValues{true, 3, true, true, true, true}, cm.Data, "no memory store"},
		{"one server", NATSValues{true, 1, true, true, true, false}, cm.Data, "NATS replicas 1"},
		{"more stream replicas than servers", v, map[string]string{"DORMANT_STREAM_REPLICAS": "5", "DORMANT_NATS_URL": "nats://nats:4222"}, "want 3 to 3"},
		{"URL of another release", v, map[string]string{"DORMANT_STREAM_REPLICAS": "3", "DORMANT_NATS_URL": "nats://my-nats:4222"}, "the chart's client Service"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, CheckNATS(tc.v, tc.env, "nats"), tc.wantErr) })
	}
}

// TestKubernetesRejectsWrongFixtures: each check fails on a manifest that breaks it.
func TestKubernetesRejectsWrongFixtures(t *testing.T) {
	for _, tc := range []struct {
		name, file, old, new, wantErr string
	}{
		{"unknown field", "login-ingest.yaml", "            periodSeconds: 5\n", "            periodSecond: 5\n", `unknown field "periodSecond"`},
		{"field of the wrong type", "policy.yaml", "  replicas: 2\n", "  replicas: one\n", "cannot unmarshal"},
		{"renamed variable", "configmap.yaml", "DORMANT_STREAM_MAX_AGE:", "DORMANT_STREAM_MAXAGE:", "does not read DORMANT_STREAM_MAXAGE"},
		{"readiness on a route the server lacks", "policy.yaml", "path: /readyz", "path: /ready", "readinessProbe path /ready: want /readyz"},
		{"liveness on the readiness route", "login-ingest.yaml", "path: /healthz\n              port: http\n            periodSeconds: 10", "path: /readyz\n              port: http\n            periodSeconds: 10", "livenessProbe path /readyz: want /healthz"},
		{"probe on a route the server lacks", "login-ingest.yaml", "path: /healthz\n              port: http\n            periodSeconds: 2", "path: /startz\n              port: http\n            periodSeconds: 2", "no such route"},
		{"listening where the pod does not", "login-ingest.yaml", "value: 0.0.0.0:8081", "value: 0.0.0.0:9000", "containerPort 8081: login-ingest listens on 9000"},
		{"loopback", "policy.yaml", "value: 0.0.0.0:8082", "value: 127.0.0.1:8082", "loopback"},
		{"root", "policy.yaml", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot must be true"},
		{"writable root", "login-ingest.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem true"},
		{"no requests", "policy.yaml", "            requests:\n              cpu: 100m\n              memory: 256Mi\n", "", "resources.requests"},
		{"secret key missing", "login-ingest.yaml", "key: CLINIC_A_INGEST_TOKEN", "key: CLINIC_A_TOKEN", "Secret dormant-secrets has no key CLINIC_A_TOKEN"},
		{"site secret not given", "policy.yaml", "            - name: DORMANT_SMTP_PASSWORD\n              valueFrom:\n                secretKeyRef:\n                  name: dormant-secrets\n                  key: DORMANT_SMTP_PASSWORD\n", "", "reads secret DORMANT_SMTP_PASSWORD"},
		{"sites file not mounted", "login-ingest.yaml", "mountPath: /etc/dormant", "mountPath: /etc/sites", "no ConfigMap volume is mounted there"},
		{"sites file the code refuses", "configmap.yaml", "tls: starttls", "tls: maybe", "smtp.tls"},
		{"service on the wrong port", "policy.yaml", "      targetPort: http", "      targetPort: 8080", "Service policy targetPort 8080"},
		{"PDB that blocks every drain", "login-ingest.yaml", "minAvailable: 1", "minAvailable: 2", "blocks every node drain"},
		{"PDB selecting nothing", "policy.yaml", "  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: policy", "  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: polici", "no PodDisruptionBudget"},
		{"a kind the check does not know", "namespace.yaml", "kind: Namespace", "kind: Namespaces", "not a kind deploytest decodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			entries, err := os.ReadDir(kubeDir(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				src := filepath.Join(kubeDir(t), e.Name())
				if e.Name() == tc.file {
					mutate(t, src, dir, e.Name(), tc.old, tc.new)
				} else {
					mutate(t, src, dir, e.Name())
				}
			}
			m, err := ReadManifests(dir, notManifests...)
			if err == nil {
				err = CheckManifests(m)
			}
			wantErr(t, err, tc.wantErr)
		})
	}
}
