package deploytest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/dormant-dev/dormant/services/platform/httpserver"
	"github.com/dormant-dev/dormant/services/platform/siteconfig"
)

// Manifests are the Kubernetes objects of a directory, decoded into the official types.
type Manifests struct {
	Deployments []appsv1.Deployment
	Services    []corev1.Service
	ConfigMaps  []corev1.ConfigMap
	Secrets     []corev1.Secret
	PDBs        []policyv1.PodDisruptionBudget
	Namespaces  []corev1.Namespace
	// Files are the manifest files read, by base name.
	Files []string
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// DecodeStrict decodes one YAML document into out: unknown fields, duplicate fields and
// type mismatches are errors (as `kubectl apply --validate=strict` would report them).
func DecodeStrict(doc []byte, out any) error {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the object")
	}
	return nil
}

// ReadManifests strictly decodes every manifest file in dir (*.yaml but the Helm values and
// the kustomization, which are not Kubernetes objects).
func ReadManifests(dir string, skip ...string) (*Manifests, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	m := &Manifests{}
	var errs []error
	for _, p := range paths {
		if slices.Contains(skip, filepath.Base(p)) {
			continue
		}
		m.Files = append(m.Files, filepath.Base(p))
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		for i, doc := range docSeparator.Split(string(raw), -1) {
			if err := m.add([]byte(doc)); err != nil {
				errs = append(errs, fmt.Errorf("%s, document %d: %w", filepath.Base(p), i+1, err))
			}
		}
	}
	return m, errors.Join(errs...)
}

func (m *Manifests) add(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	if tm.Kind == "" && len(bytes.TrimSpace(stripComments(doc))) == 0 {
		return nil // an empty document
	}
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		var o appsv1.Deployment
		return appendDecoded(doc, &o, &m.Deployments)
	case "v1 Service":
		var o corev1.Service
		return appendDecoded(doc, &o, &m.Services)
	case "v1 ConfigMap":
		var o corev1.ConfigMap
		return appendDecoded(doc, &o, &m.ConfigMaps)
	case "v1 Secret":
		var o corev1.Secret
		return appendDecoded(doc, &o, &m.Secrets)
	case "policy/v1 PodDisruptionBudget":
		var o policyv1.PodDisruptionBudget
		return appendDecoded(doc, &o, &m.PDBs)
	case "v1 Namespace":
		var o corev1.Namespace
		return appendDecoded(doc, &o, &m.Namespaces)
	}
	return fmt.Errorf("%s %s: not a kind deploytest decodes (add it to Manifests)", tm.APIVersion, tm.Kind)
}

func appendDecoded[T any](doc []byte, o *T, list *[]T) error {
	if err := DecodeStrict(doc, o); err != nil {
		return err
	}
	*list = append(*list, *o)
	return nil
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(append(out, line...), '\n')
		}
	}
	return out
}

func (m *Manifests) configMap(name string) (corev1.ConfigMap, bool) {
	for _, c := range m.ConfigMaps {
		if c.Name == name {
			return c, true
		}
	}
	return corev1.ConfigMap{}, false
}

func (m *Manifests) secretKeys(name string) (map[string]bool, bool) {
	for _, s := range m.Secrets {
		if s.Name == name {
			keys := map[string]bool{}
			for k := range s.StringData {
				keys[k] = true
			}
			for k := range s.Data {
				keys[k] = true
			}
			return keys, true
		}
	}
	return nil, false
}

// codeRoutes answers whether the HTTP server every binary runs serves path for GET: it asks
// the server's own mux, so a renamed health route breaks the probes' check.
func codeRoutes() func(path string) bool {
	srv := httpserver.New("127.0.0.1:0", zap.NewNop(), prometheus.NewRegistry())
	return func(path string) bool {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		_, pattern := srv.Mux.Handler(req)
		return pattern != ""
	}
}

// CheckManifests checks the decoded manifests against the code.
func CheckManifests(m *Manifests) error {
	var errs []error
	routes := codeRoutes()
	if len(m.Deployments) == 0 {
		errs = append(errs, errors.New("no Deployment"))
	}
	for _, d := range m.Deployments {
		if err := checkDeployment(m, d, routes); err != nil {
			errs = append(errs, fmt.Errorf("deployment %s: %w", d.Name, err))
		}
	}
	return errors.Join(errs...)
}

func checkDeployment(m *Manifests, d appsv1.Deployment, routes func(string) bool) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	pod := d.Spec.Template
	if d.Spec.Selector == nil {
		return errors.New("no selector")
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return err
	}
	if !sel.Matches(labels.Set(pod.Labels)) {
		bad("selector %s does not match the pod labels %v", sel, pod.Labels)
	}
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		bad("pod securityContext.runAsNonRoot must be true")
	}
	if psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		bad("pod securityContext.runAsUser is root")
	}
	if len(pod.Spec.Containers) != 1 {
		bad("want one container, got %d", len(pod.Spec.Containers))
		return errors.Join(errs...)
	}
	c := pod.Spec.Containers[0]
	b, ok := BinaryNamed(c.Name)
	if !ok {
		bad("container %s is not one of dormant's binaries", c.Name)
		return errors.Join(errs...)
	}
	if !strings.Contains(c.Image, b.Name) {
		bad("image %s does not name %s", c.Image, b.Name)
	}
	if c.Command != nil {
		bad("command overrides the image's ENTRYPOINT %s", b.ImagePath())
	}
	csc := c.SecurityContext
	if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
		csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
		csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") {
		bad("container securityContext: want allowPrivilegeEscalation false, readOnlyRootFilesystem true, capabilities drop ALL")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		bad("resources.requests: want cpu and memory")
	}
	if c.Resources.Limits.Memory().IsZero() {
		bad("resources.limits.memory: want one (the process has no other bound)")
	}

	envs, sites, err := m.containerEnv(pod.Spec, c)
	if err != nil {
		errs = append(errs, err)
	}
	if err := b.CheckContainerEnv(envs, sites); err != nil {
		errs = append(errs, err)
	}
	port, err := b.HTTPPort(envs)
	if err != nil {
		errs = append(errs, err)
	}
	portNames := map[string]int32{}
	for _, p := range c.Ports {
		portNames[p.Name] = p.ContainerPort
		if strconv.Itoa(int(p.ContainerPort)) != port {
			bad("containerPort %d: %s listens on %s", p.ContainerPort, b.Name, port)
		}
	}
	resolve := func(p intstr.IntOrString) string {
		if p.Type == intstr.String {
			if n, ok := portNames[p.StrVal]; ok {
				return strconv.Itoa(int(n))
			}
			return "(unknown port name " + p.StrVal + ")"
		}
		return strconv.Itoa(int(p.IntVal))
	}
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"readinessProbe", c.ReadinessProbe, "/readyz"},
		{"livenessProbe", c.LivenessProbe, "/healthz"},
	} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			bad("%s: want an httpGet probe of %s", pr.name, pr.path)
			continue
		}
		if pr.probe.HTTPGet.Path != pr.path {
			bad("%s path %s: want %s", pr.name, pr.probe.HTTPGet.Path, pr.path)
		}
		if got := resolve(pr.probe.HTTPGet.Port); got != port {
			bad("%s port %s: %s listens on %s", pr.name, got, b.Name, port)
		}
	}
	for name, pr := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe, "startupProbe": c.StartupProbe} {
		if pr != nil && pr.HTTPGet != nil && !routes(pr.HTTPGet.Path) {
			bad("%s path %s: the code's HTTP server has no such route", name, pr.HTTPGet.Path)
		}
	}

	// A Service and a PodDisruptionBudget select these pods.
	var svcOK, pdbOK bool
	for _, s := range m.Services {
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			continue
		}
		svcOK = true
		for _, sp := range s.Spec.Ports {
			if got := resolve(sp.TargetPort); got != port {
				bad("Service %s targetPort %s: %s listens on %s", s.Name, got, b.Name, port)
			}
		}
	}
	for _, p := range m.PDBs {
		if p.Spec.Selector == nil {
			continue
		}
		if s, err := metav1.LabelSelectorAsSelector(p.Spec.Selector); err == nil && s.Matches(labels.Set(pod.Labels)) {
			pdbOK = true
			if p.Spec.MinAvailable != nil && p.Spec.MinAvailable.Type == intstr.Int && d.Spec.Replicas != nil &&
				p.Spec.MinAvailable.IntVal >= *d.Spec.Replicas {
				bad("PodDisruptionBudget %s: minAvailable %d with %d replicas blocks every node drain", p.Name, p.Spec.MinAvailable.IntVal, *d.Spec.Replicas)
			}
		}
	}
	if !svcOK {
		bad("no Service selects its pods")
	}
	if !pdbOK {
		bad("no PodDisruptionBudget selects its pods")
	}
	return errors.Join(errs...)
}

// containerEnv resolves the container's environment from env, envFrom and the ConfigMaps and
// Secrets of the manifests (a secret's value stands as "(secret)"), and loads the sites file
// DORMANT_CONFIG points at from the ConfigMap mounted there.
func (m *Manifests) containerEnv(pod corev1.PodSpec, c corev1.Container) (map[string]string, *siteconfig.File, error) {
	var errs []error
	envs := map[string]string{}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, ok := m.configMap(ef.ConfigMapRef.Name)
			if !ok {
				errs = append(errs, fmt.Errorf("envFrom ConfigMap %s is not in the manifests", ef.ConfigMapRef.Name))
			}
			for k, v := range cm.Data {
				envs[ef.Prefix+k] = v
			}
		case ef.SecretRef != nil:
			keys, ok := m.secretKeys(ef.SecretRef.Name)
			if !ok {
				errs = append(errs, fmt.Errorf("envFrom Secret %s is not in the manifests", ef.SecretRef.Name))
			}
			for k := range keys {
				envs[ef.Prefix+k] = "(secret)"
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			envs[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			keys, ok := m.secretKeys(ref.Name)
			if !ok || !keys[ref.Key] {
				errs = append(errs, fmt.Errorf("env %s: Secret %s has no key %s", e.Name, ref.Name, ref.Key))
			}
			envs[e.Name] = "(secret)"
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, _ := m.configMap(ref.Name)
			v, ok := cm.Data[ref.Key]
			if !ok {
				errs = append(errs, fmt.Errorf("env %s: ConfigMap %s has no key %s", e.Name, ref.Name, ref.Key))
			}
			envs[e.Name] = v
		}
	}
	target := envs["DORMANT_CONFIG"]
	if target == "" {
		return envs, nil, errors.Join(errs...)
	}
	for _, vm := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(target, strings.TrimSuffix(vm.MountPath, "/")+"/")
		if vm.SubPath != "" {
			rel, ok = vm.SubPath, vm.MountPath == target
		}
		if !ok {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != vm.Name || v.ConfigMap == nil {
				continue
			}
			cm, found := m.configMap(v.ConfigMap.Name)
			if !found {
				errs = append(errs, fmt.Errorf("volume %s: ConfigMap %s is not in the manifests", v.Name, v.ConfigMap.Name))
				continue
			}
			doc, found := cm.Data[rel]
			if !found {
				errs = append(errs, fmt.Errorf("DORMANT_CONFIG %s: ConfigMap %s has no key %s", target, cm.Name, rel))
				continue
			}
			f, err := siteconfig.Parse([]byte(doc))
			if err == nil {
				err = ParseSites(f)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("ConfigMap %s key %s: %w", cm.Name, rel, err))
			}
			return envs, f, errors.Join(errs...)
		}
	}
	errs = append(errs, fmt.Errorf("DORMANT_CONFIG %s: no ConfigMap volume is mounted there", target))
	return envs, nil, errors.Join(errs...)
}

// Kustomization is the part of kustomization.yaml deploytest checks.
type Kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images"`
}

// NATSValues is the part of the NATS chart's values deploytest checks.
type NATSValues struct {
	ClusterEnabled bool
	Replicas       int
	JetStream      bool
	FileStore      bool
	PVC            bool
	MemoryStore    bool
}

// ReadNATSValues reads the chart values file.
func ReadNATSValues(path string) (NATSValues, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return NATSValues{}, err
	}
	var v struct {
		Config struct {
			Cluster struct {
				Enabled  bool `json:"enabled"`
				Replicas int  `json:"replicas"`
			} `json:"cluster"`
			JetStream struct {
				Enabled   bool `json:"enabled"`
				FileStore struct {
					Enabled bool `json:"enabled"`
					PVC     struct {
						Enabled bool `json:"enabled"`
					} `json:"pvc"`
				} `json:"fileStore"`
				MemoryStore struct {
					Enabled bool `json:"enabled"`
				} `json:"memoryStore"`
			} `json:"jetstream"`
		} `json:"config"`
	}
	if err := yaml.Unmarshal(raw, &v); err != nil {
		return NATSValues{}, err
	}
	c := v.Config
	return NATSValues{
		ClusterEnabled: c.Cluster.Enabled, Replicas: c.Cluster.Replicas, JetStream: c.JetStream.Enabled,
		FileStore: c.JetStream.FileStore.Enabled, PVC: c.JetStream.FileStore.PVC.Enabled, MemoryStore: c.JetStream.MemoryStore.Enabled,
	}, nil
}

// CheckNATS checks the services' bus settings against the NATS chart values: a JetStream
// cluster on persistent file storage, as many stream replicas as servers at most, and a URL
// naming the chart's client Service (release name "nats").
func CheckNATS(v NATSValues, env map[string]string, release string) error {
	var errs []error
	if !v.ClusterEnabled || !v.JetStream || !v.FileStore || !v.PVC || v.MemoryStore {
		errs = append(errs, fmt.Errorf("NATS values %+v: want cluster, JetStream file store on PVCs, no memory store", v))
	}
	if v.Replicas < 3 {
		errs = append(errs, fmt.Errorf("NATS replicas %d: want 3 or more", v.Replicas))
	}
	if r, err := strconv.Atoi(env["DORMANT_STREAM_REPLICAS"]); err != nil || r > v.Replicas || r < 3 {
		errs = append(errs, fmt.Errorf("DORMANT_STREAM_REPLICAS %q: want 3 to %d (the NATS servers)", env["DORMANT_STREAM_REPLICAS"], v.Replicas))
	}
	for _, u := range strings.Split(env["DORMANT_NATS_URL"], ",") {
		pu, err := url.Parse(strings.TrimSpace(u))
		if err != nil || pu.Scheme != "nats" || (pu.Hostname() != release && !strings.HasPrefix(pu.Hostname(), release+".")) || pu.Port() != "4222" {
			errs = append(errs, fmt.Errorf("DORMANT_NATS_URL %q: want nats://%s:4222, the chart's client Service", u, release))
		}
	}
	return errors.Join(errs...)
}
