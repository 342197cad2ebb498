package deploy

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const manifestDir = "kubernetes"

// kustomization is the subset of kustomize's Kustomization used here;
// decoding is strict, so any other field fails the test.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels"`
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// objects holds every decoded manifest by kind and name.
type objects struct {
	namespaces  map[string]*corev1.Namespace
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	pvcs        map[string]*corev1.PersistentVolumeClaim
	hpas        map[string]*autoscalingv2.HorizontalPodAutoscaler
}

// decodeStrict decodes one manifest into the Kubernetes API type of its
// kind, refusing unknown fields.
func decodeStrict(data []byte, objs *objects) error {
	var tm typeMeta
	if err := yaml.Unmarshal(data, &tm); err != nil {
		return err
	}
	var err error
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 Namespace":
		var o corev1.Namespace
		err = yaml.UnmarshalStrict(data, &o)
		objs.namespaces[o.Name] = &o
	case "apps/v1 Deployment":
		var o appsv1.Deployment
		err = yaml.UnmarshalStrict(data, &o)
		objs.deployments[o.Name] = &o
	case "v1 Service":
		var o corev1.Service
		err = yaml.UnmarshalStrict(data, &o)
		objs.services[o.Name] = &o
	case "v1 ConfigMap":
		var o corev1.ConfigMap
		err = yaml.UnmarshalStrict(data, &o)
		objs.configMaps[o.Name] = &o
	case "v1 Secret":
		var o corev1.Secret
		err = yaml.UnmarshalStrict(data, &o)
		objs.secrets[o.Name] = &o
	case "v1 PersistentVolumeClaim":
		var o corev1.PersistentVolumeClaim
		err = yaml.UnmarshalStrict(data, &o)
		objs.pvcs[o.Name] = &o
	case "autoscaling/v2 HorizontalPodAutoscaler":
		var o autoscalingv2.HorizontalPodAutoscaler
		err = yaml.UnmarshalStrict(data, &o)
		objs.hpas[o.Name] = &o
	default:
		return fmt.Errorf("unexpected kind %q (apiVersion %q)", tm.Kind, tm.APIVersion)
	}
	return err
}

func loadManifests(t *testing.T) (*kustomization, *objects) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(manifestDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	objs := &objects{
		namespaces: map[string]*corev1.Namespace{}, deployments: map[string]*appsv1.Deployment{},
		services: map[string]*corev1.Service{}, configMaps: map[string]*corev1.ConfigMap{},
		secrets: map[string]*corev1.Secret{}, pvcs: map[string]*corev1.PersistentVolumeClaim{},
		hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{},
	}
	for _, res := range k.Resources {
		data, err := os.ReadFile(filepath.Join(manifestDir, res))
		if err != nil {
			t.Fatalf("resource %s: %v", res, err)
		}
		if err := decodeStrict(data, objs); err != nil {
			t.Fatalf("%s: %v", res, err)
		}
	}
	return &k, objs
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	k, _ := loadManifests(t)
	files, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			onDisk = append(onDisk, b)
		}
	}
	listed := append([]string(nil), k.Resources...)
	sort.Strings(onDisk)
	sort.Strings(listed)
	if strings.Join(onDisk, ",") != strings.Join(listed, ",") {
		t.Errorf("kustomization resources %v, files on disk %v", listed, onDisk)
	}
	if k.Namespace == "" {
		t.Error("kustomization sets no namespace")
	}
}

func TestManifestsLineUp(t *testing.T) {
	k, o := loadManifests(t)
	if o.namespaces[k.Namespace] == nil {
		t.Errorf("namespace %q is not created by the manifests", k.Namespace)
	}
	for _, name := range []string{"pensieve", "pensieve-proxy"} {
		d := o.deployments[name]
		if d == nil {
			t.Fatalf("deployment %q missing", name)
		}
		checkDeployment(t, d, o)
		svc := o.services[name]
		if svc == nil {
			t.Fatalf("service %q missing", name)
		}
		checkService(t, svc, d)
	}
	server := o.deployments["pensieve"].Spec.Template.Spec.Containers[0]
	if p := server.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/ready" {
		t.Errorf("pensieve readiness probe = %+v, want GET /ready", p)
	}
	if p := server.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/health" {
		t.Errorf("pensieve liveness probe = %+v, want GET /health", p)
	}
	if server.Resources.Requests.Memory().IsZero() || server.Resources.Requests.Cpu().IsZero() {
		t.Error("pensieve container has no cpu/memory requests")
	}
	hpa := o.hpas["pensieve"]
	if hpa == nil || hpa.Spec.ScaleTargetRef.Kind != "Deployment" || o.deployments[hpa.Spec.ScaleTargetRef.Name] == nil {
		t.Errorf("hpa does not target an existing deployment: %+v", hpa)
	}
	checkProxyUpstream(t, o)
}

func checkDeployment(t *testing.T, d *appsv1.Deployment, o *objects) {
	t.Helper()
	sel := d.Spec.Selector.MatchLabels
	for k, v := range sel {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("deployment %s: selector %s=%s does not match the pod labels %v", d.Name, k, v, d.Spec.Template.Labels)
		}
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		volumes[v.Name] = v
		switch {
		case v.ConfigMap != nil && o.configMaps[v.ConfigMap.Name] == nil:
			t.Errorf("deployment %s: volume %s names missing configmap %s", d.Name, v.Name, v.ConfigMap.Name)
		case v.Secret != nil && o.secrets[v.Secret.SecretName] == nil:
			t.Errorf("deployment %s: volume %s names missing secret %s", d.Name, v.Name, v.Secret.SecretName)
		case v.PersistentVolumeClaim != nil && o.pvcs[v.PersistentVolumeClaim.ClaimName] == nil:
			t.Errorf("deployment %s: volume %s names missing claim %s", d.Name, v.Name, v.PersistentVolumeClaim.ClaimName)
		}
	}
	sc := d.Spec.Template.Spec.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("deployment %s does not run as non-root", d.Name)
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		ports := map[string]bool{}
		for _, p := range c.Ports {
			ports[p.Name] = true
		}
		for _, probe := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
			if probe == nil || probe.HTTPGet == nil {
				t.Errorf("deployment %s container %s: missing HTTP probe", d.Name, c.Name)
				continue
			}
			if !ports[probe.HTTPGet.Port.String()] {
				t.Errorf("deployment %s container %s: probe port %s is not a container port", d.Name, c.Name, probe.HTTPGet.Port.String())
			}
		}
		for _, m := range c.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok {
				t.Errorf("deployment %s container %s: mount %s has no volume", d.Name, c.Name, m.Name)
			}
		}
	}
}

func checkService(t *testing.T, svc *corev1.Service, d *appsv1.Deployment) {
	t.Helper()
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("service %s: selector %s=%s selects no pod of %s", svc.Name, k, v, d.Name)
		}
	}
	ports := map[string]bool{}
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			ports[p.Name] = true
		}
	}
	for _, p := range svc.Spec.Ports {
		if !ports[p.TargetPort.String()] {
			t.Errorf("service %s: target port %s is not a port of %s", svc.Name, p.TargetPort.String(), d.Name)
		}
	}
}

// checkProxyUpstream checks that the proxy's upstream URL names the pensieve
// Service and its port.
func checkProxyUpstream(t *testing.T, o *objects) {
	t.Helper()
	cfg := o.configMaps["pensieve-proxy-config"].Data["proxy.toml"]
	m := regexp.MustCompile(`(?m)^url = "([^"]+)"`).FindStringSubmatch(cfg)
	if m == nil {
		t.Fatal("proxy.toml has no upstream url")
	}
	u, err := url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	svc := o.services[u.Hostname()]
	if svc == nil {
		t.Fatalf("proxy upstream host %q is not a service", u.Hostname())
	}
	port, _ := strconv.Atoi(u.Port())
	if svc.Spec.Ports[0].Port != int32(port) {
		t.Errorf("proxy upstream port %d, service port %d", port, svc.Spec.Ports[0].Port)
	}
}

// TestStrictDecodingRefusesMisspelledFields proves the decoding above would
// catch a typo: each mutation of a real manifest must fail to decode.
func TestStrictDecodingRefusesMisspelledFields(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(manifestDir, "pensieve-deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, typo := range [][2]string{
		{"containerPort:", "containerPorts:"},
		{"readinessProbe:", "readynessProbe:"},
		{"replicas:", "replica:"},
	} {
		t.Run(typo[1], func(t *testing.T) {
			bad := bytes.Replace(data, []byte(typo[0]), []byte(typo[1]), 1)
			var d appsv1.Deployment
			if err := yaml.UnmarshalStrict(bad, &d); err == nil {
				t.Errorf("misspelled %s decoded without error", typo[1])
			}
		})
	}
}
