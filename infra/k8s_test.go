package infra_test

// Invariants of infra/k8s, checked on the parsed YAML: KEDA scales the
// worker Deployment on the queue the worker reads, a PodDisruptionBudget
// selects its pods, the grace period covers the drain timeout, the pods
// run as non-root with probes on the metrics port, and the ServiceAccount
// carries an IRSA role. testdata/k8s/<class> holds one broken set each.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

type k8sObj struct {
	file, kind, name, namespace string
	raw                         map[string]any
}

func (o k8sObj) String() string {
	return fmt.Sprintf("%s/%s (%s)", o.kind, o.name, filepath.Base(o.file))
}

func loadK8s(dir string) ([]k8sObj, error) {
	var objs []k8sObj
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (!strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".yml")) {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var raw map[string]any
			err := dec.Decode(&raw)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if raw == nil {
				continue
			}
			o := k8sObj{file: path, raw: raw}
			o.kind, _ = raw["kind"].(string)
			o.name, _ = dig(raw, "metadata", "name").(string)
			o.namespace, _ = dig(raw, "metadata", "namespace").(string)
			objs = append(objs, o)
		}
		return nil
	})
	return objs, err
}

func dig(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func digMap(v any, path ...string) map[string]any {
	m, _ := dig(v, path...).(map[string]any)
	return m
}

func digList(v any, path ...string) []any {
	l, _ := dig(v, path...).([]any)
	return l
}

func digStr(v any, path ...string) string {
	switch x := dig(v, path...).(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// subset reports whether every label of sel is in labels (and sel is not empty).
func subset(sel, labels map[string]any) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func ofKind(objs []k8sObj, kinds ...string) []k8sObj {
	var out []k8sObj
	for _, o := range objs {
		for _, k := range kinds {
			if o.kind == k {
				out = append(out, o)
			}
		}
	}
	return out
}

// workerArgs returns the container's command line from "worker" on.
func workerArgs(c map[string]any) []string {
	var all []string
	for _, key := range []string{"command", "args"} {
		for _, a := range digList(c, key) {
			all = append(all, fmt.Sprint(a))
		}
	}
	for i, a := range all {
		if a == "worker" {
			return all[i:]
		}
	}
	return nil
}

func containerPort(c map[string]any, port any) int {
	switch p := port.(type) {
	case int:
		return p
	case string:
		if n, err := strconv.Atoi(p); err == nil {
			return n
		}
		for _, cp := range digList(c, "ports") {
			if digStr(cp, "name") == p {
				n, _ := strconv.Atoi(digStr(cp, "containerPort"))
				return n
			}
		}
	}
	return -1
}

// preStopSleep is the seconds a `sleep N` preStop hook spends before SIGTERM.
func preStopSleep(c map[string]any) float64 {
	cmd := digList(c, "lifecycle", "preStop", "exec", "command")
	var words []string
	for _, w := range cmd {
		words = append(words, strings.Fields(fmt.Sprint(w))...)
	}
	if s := digStr(c, "lifecycle", "preStop", "sleep", "seconds"); s != "" {
		n, _ := strconv.ParseFloat(s, 64)
		return n
	}
	for i, w := range words {
		if w == "sleep" && i+1 < len(words) {
			n, _ := strconv.ParseFloat(words[i+1], 64)
			return n
		}
	}
	return 0
}

func checkK8s(objs []k8sObj) []string {
	var p []string
	deps := ofKind(objs, "Deployment")
	sos := ofKind(objs, "ScaledObject")
	pdbs := ofKind(objs, "PodDisruptionBudget")
	auths := ofKind(objs, "TriggerAuthentication", "ClusterTriggerAuthentication")
	sas := ofKind(objs, "ServiceAccount")
	if len(deps) == 0 {
		p = append(p, "no Deployment")
	}
	workerQueue := map[string]string{} // Deployment name -> its --queue
	for _, d := range deps {
		labels := digMap(d.raw, "spec", "template", "metadata", "labels")
		if !subset(digMap(d.raw, "spec", "selector", "matchLabels"), labels) {
			p = append(p, d.String()+": selector does not match its pod template labels")
		}
		pod := digMap(d.raw, "spec", "template", "spec")
		var worker map[string]any
		var args []string
		for _, c := range digList(pod, "containers") {
			if a := workerArgs(c.(map[string]any)); a != nil {
				worker, args = c.(map[string]any), a
			}
		}
		if worker == nil {
			p = append(p, d.String()+": no container runs `hlsfleet worker`")
			continue
		}
		f := flags(args)
		workerQueue[d.name] = f["--queue"]

		// Grace period >= preStop + drain + margin.
		drain, err := time.ParseDuration(f["--drain-timeout"])
		if err != nil {
			p = append(p, d.String()+": worker has no valid --drain-timeout (the grace period cannot be checked)")
		} else {
			grace := 30.0 // the Kubernetes default
			if s := digStr(pod, "terminationGracePeriodSeconds"); s != "" {
				grace, _ = strconv.ParseFloat(s, 64)
			}
			need := preStopSleep(worker) + drain.Seconds() + drainMargin
			if grace < need {
				p = append(p, fmt.Sprintf("%s: terminationGracePeriodSeconds %g < preStop %g s + drain timeout %g s + %d s margin",
					d, grace, preStopSleep(worker), drain.Seconds(), drainMargin))
			}
		}

		// Non-root, no privilege escalation.
		nonRoot := digStr(pod, "securityContext", "runAsNonRoot") == "true"
		if s := digStr(worker, "securityContext", "runAsNonRoot"); s != "" {
			nonRoot = s == "true"
		}
		user := digStr(pod, "securityContext", "runAsUser")
		if s := digStr(worker, "securityContext", "runAsUser"); s != "" {
			user = s
		}
		if !nonRoot {
			p = append(p, d.String()+": runAsNonRoot is not true")
		}
		if user == "0" {
			p = append(p, d.String()+": runAsUser 0 (root)")
		}
		if digStr(worker, "securityContext", "allowPrivilegeEscalation") != "false" {
			p = append(p, d.String()+": allowPrivilegeEscalation is not false")
		}

		// Probes on the metrics listener, which must not be loopback.
		addr := f["--metrics-addr"]
		if addr == "" {
			addr = "127.0.0.1:9090" // the worker's default
		}
		host, portStr, err := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(portStr)
		if err != nil {
			p = append(p, fmt.Sprintf("%s: --metrics-addr %q is not host:port", d, addr))
		} else if host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1" {
			p = append(p, fmt.Sprintf("%s: --metrics-addr %s listens on loopback: the kubelet's probes cannot reach it", d, addr))
		}
		for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
			get := digMap(worker, probe, "httpGet")
			if get == nil {
				p = append(p, fmt.Sprintf("%s: no %s httpGet", d, probe))
				continue
			}
			if got := digStr(get, "path"); got != path {
				p = append(p, fmt.Sprintf("%s: %s path %q, want %q", d, probe, got, path))
			}
			if got := containerPort(worker, get["port"]); got != port {
				p = append(p, fmt.Sprintf("%s: %s port %d is not the metrics port %d", d, probe, got, port))
			}
		}
		for _, r := range []string{"requests/cpu", "requests/memory", "limits/memory"} {
			k, v, _ := strings.Cut(r, "/")
			if digStr(worker, "resources", k, v) == "" {
				p = append(p, fmt.Sprintf("%s: no resources.%s.%s", d, k, v))
			}
		}

		// IRSA ServiceAccount.
		saName := digStr(pod, "serviceAccountName")
		found := false
		for _, sa := range sas {
			if sa.name == saName && sa.namespace == d.namespace {
				found = true
				if digStr(sa.raw, "metadata", "annotations", "eks.amazonaws.com/role-arn") == "" {
					p = append(p, sa.String()+": no eks.amazonaws.com/role-arn annotation (IRSA)")
				}
			}
		}
		if !found {
			p = append(p, fmt.Sprintf("%s: serviceAccountName %q is not defined", d, saName))
		}

		// A PDB selects its pods; a ScaledObject scales it.
		covered := false
		for _, b := range pdbs {
			if b.namespace == d.namespace && subset(digMap(b.raw, "spec", "selector", "matchLabels"), labels) {
				covered = true
			}
		}
		if !covered {
			p = append(p, d.String()+": no PodDisruptionBudget selects its pods")
		}
		scaled := false
		for _, so := range sos {
			if so.namespace == d.namespace && digStr(so.raw, "spec", "scaleTargetRef", "name") == d.name {
				scaled = true
			}
		}
		if !scaled {
			p = append(p, d.String()+": no ScaledObject scales it")
		}
	}

	for _, so := range sos {
		target := digStr(so.raw, "spec", "scaleTargetRef", "name")
		if k := digStr(so.raw, "spec", "scaleTargetRef", "kind"); k != "" && k != "Deployment" {
			p = append(p, fmt.Sprintf("%s: scales a %s, not a Deployment", so, k))
		}
		q, ok := workerQueue[target]
		if !ok {
			p = append(p, fmt.Sprintf("%s: scales Deployment %q, which is not a worker Deployment here", so, target))
		}
		sqs := 0
		for _, tr := range digList(so.raw, "spec", "triggers") {
			if digStr(tr, "type") != "aws-sqs-queue" {
				continue
			}
			sqs++
			url := digStr(tr, "metadata", "queueURL")
			if ok && url != q {
				p = append(p, fmt.Sprintf("%s: watches %q but the worker reads %q", so, url, q))
			}
			if n, err := strconv.Atoi(digStr(tr, "metadata", "queueLength")); err != nil || n <= 0 {
				p = append(p, fmt.Sprintf("%s: queueLength %q is not a positive number", so, digStr(tr, "metadata", "queueLength")))
			}
			ref := digStr(tr, "authenticationRef", "name")
			authed := false
			for _, a := range auths {
				if a.name == ref && (a.kind == "ClusterTriggerAuthentication" || a.namespace == so.namespace) {
					authed = true
				}
			}
			if !authed {
				p = append(p, fmt.Sprintf("%s: authenticationRef %q is not defined", so, ref))
			}
		}
		if sqs == 0 {
			p = append(p, so.String()+": no aws-sqs-queue trigger")
		}
	}

	for _, b := range pdbs {
		sel := digMap(b.raw, "spec", "selector", "matchLabels")
		hit := false
		for _, d := range deps {
			if d.namespace == b.namespace && subset(sel, digMap(d.raw, "spec", "template", "metadata", "labels")) {
				hit = true
			}
		}
		if !hit {
			p = append(p, b.String()+": selects no worker pods")
		}
	}
	return p
}

func TestK8sManifests(t *testing.T) {
	objs, err := loadK8s("k8s")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.kind]++
	}
	// Pin what the checks run over: CPU and GPU workers, each scaled and covered.
	for kind, want := range map[string]int{"Deployment": 2, "ScaledObject": 2, "PodDisruptionBudget": 2, "TriggerAuthentication": 1, "ServiceAccount": 1} {
		if kinds[kind] != want {
			t.Errorf("%d %s objects, want %d", kinds[kind], kind, want)
		}
	}
	for _, problem := range checkK8s(objs) {
		t.Error(problem)
	}
}

// TestK8sFixtureBaseAccepted: the set every broken fixture is made from
// passes, so each fixture fails for its own break only.
func TestK8sFixtureBaseAccepted(t *testing.T) {
	objs, err := loadK8s("testdata/k8s/valid")
	if err != nil {
		t.Fatal(err)
	}
	for _, problem := range checkK8s(objs) {
		t.Error(problem)
	}
}

func TestK8sFixturesRejected(t *testing.T) {
	cases := []struct {
		dir  string
		want []string
	}{
		{"scaledobject", []string{
			`ScaledObject/hlsfleet-worker (worker.yaml): scales Deployment "hlsfleet-wroker", which is not a worker Deployment here`,
			"Deployment/hlsfleet-worker (worker.yaml): no ScaledObject scales it",
		}},
		{"queue", []string{`ScaledObject/hlsfleet-worker (worker.yaml): watches "https://sqs.eu-west-1.amazonaws.com/111122223333/hlsfleet-gpu" but the worker reads`}},
		{"pdb", []string{
			"Deployment/hlsfleet-worker (worker.yaml): no PodDisruptionBudget selects its pods",
			"PodDisruptionBudget/hlsfleet-worker (worker.yaml): selects no worker pods",
		}},
		{"grace", []string{"terminationGracePeriodSeconds 120 < preStop 30 s + drain timeout 300 s + 30 s margin"}},
		{"root", []string{"runAsNonRoot is not true", "runAsUser 0 (root)", "allowPrivilegeEscalation is not false"}},
		{"probes", []string{
			"--metrics-addr 127.0.0.1:9090 listens on loopback",
			`readinessProbe path "/healthz", want "/readyz"`,
			"livenessProbe port 8080 is not the metrics port 9090",
		}},
	}
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			objs, err := loadK8s("testdata/k8s/" + c.dir)
			if err != nil {
				t.Fatal(err)
			}
			problems := checkK8s(objs)
			if len(problems) == 0 {
				t.Fatalf("the checker accepted the broken fixture %s", c.dir)
			}
			all := strings.Join(problems, "\n")
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("no problem mentions %q; got:\n%s", w, all)
				}
			}
			t.Logf("%s rejected with:\n%s", c.dir, all)
		})
	}
}
