package infra_test

// Invariants of infra/terraform, checked offline on the parsed HCL (no
// terraform binary, no provider, no AWS account). Each check returns the
// problems it found; TestTerraformModule wants none on the real module and
// TestTerraformFixturesRejected wants the expected ones on a deliberately
// broken fixture per class (testdata/terraform/<class>).

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

type check func(m *module) []string

var tfChecks = map[string]check{
	"fmt":        checkFmt,
	"redrive":    checkRedrive,
	"visibility": checkVisibility,
	"buckets":    checkBuckets,
	"iam":        checkIAM,
	"asg":        checkASG,
	"imds":       checkIMDS,
	"alarms":     checkAlarms,
	"live":       checkLive,
}

// --- fmt ---------------------------------------------------------------------------

// checkFmt: every file is what `terraform fmt` (hclwrite.Format) makes of it.
func checkFmt(m *module) []string {
	var p []string
	for name, src := range m.files {
		got := hclwrite.Format(src)
		if bytes.Equal(got, src) {
			continue
		}
		a, b := strings.Split(string(src), "\n"), strings.Split(string(got), "\n")
		line := 1
		for line <= len(a) && line <= len(b) && a[line-1] == b[line-1] {
			line++
		}
		p = append(p, fmt.Sprintf("%s is not terraform fmt-clean (first difference at line %d)", name, line))
	}
	sort.Strings(p)
	return p
}

// --- queues ----------------------------------------------------------------------------

type queueInfo struct {
	name       string
	fifo       bool
	visibility float64
	retention  float64
	redrive    bool
	dlq        string // aws_sqs_queue name of its DLQ
	maxReceive float64
}

// queues reads every aws_sqs_queue and the set of queues used as a
// dead-letter target (by a redrive policy, a Lambda failure destination or
// dead_letter_config).
func queues(m *module) (map[string]*queueInfo, map[string]bool, []string) {
	var p []string
	qs := map[string]*queueInfo{}
	dlqs := map[string]bool{}
	for _, r := range m.all("aws_sqs_queue") {
		insts := m.instances(r)
		if len(insts) != 1 || insts[0].key != "" {
			p = append(p, fmt.Sprintf("%s uses for_each/count: the checker follows single queues only", r.addr()))
			continue
		}
		in := insts[0]
		q := &queueInfo{name: r.name, visibility: 30, retention: 345600}
		if v, ok := in.get("fifo_queue"); ok {
			q.fifo, _ = boolean(v)
		}
		if v, ok := in.get("visibility_timeout_seconds"); ok {
			if n, ok := num(v); ok {
				q.visibility = n
			} else {
				q.visibility = -1
			}
		}
		if v, ok := in.get("message_retention_seconds"); ok {
			q.retention, _ = num(v)
		}
		if v, ok := in.get("redrive_policy"); ok {
			q.redrive = true
			s, ok := str(v)
			var doc map[string]any
			if !ok || json.Unmarshal([]byte(s), &doc) != nil {
				p = append(p, fmt.Sprintf("%s: redrive policy cannot be evaluated", in))
			} else {
				target, _ := doc["deadLetterTargetArn"].(string)
				q.dlq, _ = refTo(target, "aws_sqs_queue")
				switch n := doc["maxReceiveCount"].(type) {
				case float64:
					q.maxReceive = n
				case string:
					fmt.Sscan(n, &q.maxReceive)
				}
				if q.dlq != "" {
					dlqs[q.dlq] = true
				}
			}
		}
		qs[r.name] = q
	}
	mark := func(v string) {
		if n, ok := refTo(v, "aws_sqs_queue"); ok {
			dlqs[n] = true
		}
	}
	for _, r := range m.all("aws_lambda_function_event_invoke_config") {
		for _, in := range m.instances(r) {
			if dc, ok := first(in.ctx, r.block.Body, "destination_config"); ok {
				if of, ok := first(dc.ctx, dc.body, "on_failure"); ok {
					v, _ := of.get("destination")
					s, _ := str(v)
					mark(s)
				}
			}
		}
	}
	for _, typ := range []string{"aws_lambda_function", "aws_cloudwatch_event_target"} {
		for _, r := range m.all(typ) {
			for _, in := range m.instances(r) {
				if dc, ok := first(in.ctx, r.block.Body, "dead_letter_config"); ok {
					for _, attr := range []string{"target_arn", "arn"} {
						v, _ := dc.get(attr)
						s, _ := str(v)
						mark(s)
					}
				}
			}
		}
	}
	return qs, dlqs, p
}

// checkRedrive: every queue that is not itself a DLQ redrives to a DLQ of
// this module after a positive maxReceiveCount; a FIFO queue's DLQ is
// FIFO; a DLQ keeps messages at least as long as its queue.
func checkRedrive(m *module) []string {
	qs, dlqs, p := queues(m)
	for _, name := range sortedKeys(qs) {
		q := qs[name]
		if dlqs[name] {
			continue
		}
		addr := "aws_sqs_queue." + name
		if !q.redrive {
			p = append(p, addr+" has no redrive policy to a DLQ")
			continue
		}
		d, ok := qs[q.dlq]
		switch {
		case q.dlq == "" || !ok:
			p = append(p, fmt.Sprintf("%s: redrive target %q is not a queue of this module", addr, q.dlq))
			continue
		case q.dlq == name:
			p = append(p, addr+" redrives to itself")
			continue
		}
		if q.maxReceive < 1 {
			p = append(p, fmt.Sprintf("%s: maxReceiveCount %g, want at least 1", addr, q.maxReceive))
		}
		if q.fifo != d.fifo {
			p = append(p, fmt.Sprintf("%s (fifo %v) redrives to %s (fifo %v): a FIFO queue needs a FIFO DLQ", addr, q.fifo, q.dlq, d.fifo))
		}
		if d.retention < q.retention {
			p = append(p, fmt.Sprintf("%s: DLQ %s keeps messages %gs, less than the queue's %gs", addr, q.dlq, d.retention, q.retention))
		}
	}
	return p
}

// --- worker command lines ------------------------------------------------------------------

// workerCommands finds every worker command line ([]string starting with
// "worker") in the locals and in each launch template's user data (the
// templatefile variables, see hcl_test.go).
func workerCommands(m *module) map[string][]string {
	out := map[string][]string{}
	for _, name := range sortedKeys(m.locals) {
		for _, c := range findCommands(ctyToGo(m.locals[name])) {
			out[strings.Join(c, " ")] = c
		}
	}
	for _, r := range m.all("aws_launch_template") {
		for _, in := range m.instances(r) {
			for _, c := range userDataCommands(in) {
				out[strings.Join(c, " ")] = c
			}
		}
	}
	return out
}

func userDataCommands(in instance) [][]string {
	v, ok := in.get("user_data")
	s, known := str(v)
	if !ok || !known {
		return nil
	}
	if dec, err := base64.StdEncoding.DecodeString(s); err == nil {
		s = string(dec)
	}
	var doc any
	if json.Unmarshal([]byte(s), &doc) != nil {
		return nil
	}
	return findCommands(doc)
}

func findCommands(v any) [][]string {
	var out [][]string
	switch x := v.(type) {
	case []any:
		if len(x) > 0 && x[0] == "worker" {
			cmd := make([]string, 0, len(x))
			for _, e := range x {
				s, _ := e.(string)
				cmd = append(cmd, s)
			}
			return [][]string{cmd}
		}
		for _, e := range x {
			out = append(out, findCommands(e)...)
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			out = append(out, findCommands(x[k])...)
		}
	}
	return out
}

// flags reads --name value and --name=value pairs (a flag followed by
// another flag or nothing is a boolean "true").
func flags(cmd []string) map[string]string {
	f := map[string]string{}
	for i := 1; i < len(cmd); i++ {
		a := cmd[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		if k, v, ok := strings.Cut(a, "="); ok {
			f[k] = v
			continue
		}
		if i+1 < len(cmd) && !strings.HasPrefix(cmd[i+1], "-") {
			f[a] = cmd[i+1]
			i++
		} else {
			f[a] = "true"
		}
	}
	return f
}

func short(cmd []string) string {
	f := flags(cmd)
	return fmt.Sprintf("worker --queue %s", f["--queue"])
}

// checkVisibility: each worker's lease (--visibility, extended every
// visibility/3 = one heartbeat interval) fits the visibility timeout of
// every queue it reads: queue visibility >= 3 x heartbeat interval.
func checkVisibility(m *module) []string {
	qs, _, p := queues(m)
	p = append(p, checkOneVisibilityVariable(m)...)
	cmds := workerCommands(m)
	if len(cmds) == 0 {
		return append(p, "no worker command line found in locals or launch template user data")
	}
	for _, key := range sortedKeys(cmds) {
		cmd := cmds[key]
		f := flags(cmd)
		vis, ok := f["--visibility"]
		if !ok {
			p = append(p, short(cmd)+": no --visibility (the worker's default would not follow the queue)")
			continue
		}
		d, err := time.ParseDuration(vis)
		if err != nil || d <= 0 {
			p = append(p, fmt.Sprintf("%s: --visibility %q is not a duration", short(cmd), vis))
			continue
		}
		if _, ok := f["--drain-timeout"]; !ok {
			p = append(p, short(cmd)+": no --drain-timeout")
		}
		heartbeat := d.Seconds() / 3 // the worker extends each lease every visibility/3
		for _, flag := range []string{"--queue", "--fallback-queue"} {
			ref, ok := f[flag]
			if !ok {
				continue
			}
			name, ok := refTo(ref, "aws_sqs_queue")
			q := qs[name]
			if !ok || q == nil {
				p = append(p, fmt.Sprintf("%s: %s %q is not a queue of this module", short(cmd), flag, ref))
				continue
			}
			if q.visibility < 3*heartbeat {
				p = append(p, fmt.Sprintf("%s: queue %s visibility timeout %gs < 3 x heartbeat interval %gs (worker --visibility %s)",
					short(cmd), name, q.visibility, heartbeat, vis))
			}
		}
	}
	return p
}

// visibilityVars returns the variables the worker's --visibility values are
// built from (found statically in the locals' tuples) and the variables of
// each work queue's visibility_timeout_seconds.
func visibilityVars(m *module) (worker map[string]bool, queue map[string]map[string]bool) {
	worker, queue = map[string]bool{}, map[string]map[string]bool{}
	varsOf := func(e hclsyntax.Expression) map[string]bool {
		out := map[string]bool{}
		for _, tr := range e.Variables() {
			if tr.RootName() == "var" && len(tr) > 1 {
				if a, ok := tr[1].(hcl.TraverseAttr); ok {
					out[a.Name] = true
				}
			}
		}
		return out
	}
	for _, name := range sortedKeys(m.localExpr) {
		hclsyntax.VisitAll(m.localExpr[name], func(n hclsyntax.Node) hcl.Diagnostics {
			tup, ok := n.(*hclsyntax.TupleConsExpr)
			if !ok {
				return nil
			}
			for i := 0; i+1 < len(tup.Exprs); i++ {
				if v, diags := tup.Exprs[i].Value(nil); !diags.HasErrors() && v.Type() == cty.String && v.AsString() == "--visibility" {
					for k := range varsOf(tup.Exprs[i+1]) {
						worker[k] = true
					}
				}
			}
			return nil
		})
	}
	_, dlqs, _ := queues(m)
	for _, r := range m.all("aws_sqs_queue") {
		if dlqs[r.name] {
			continue
		}
		queue[r.name] = map[string]bool{}
		if a, ok := r.block.Body.Attributes["visibility_timeout_seconds"]; ok {
			queue[r.name] = varsOf(a.Expr)
		}
	}
	return worker, queue
}

// checkOneVisibilityVariable: the workers' --visibility and every work
// queue's visibility timeout come from one and the same variable.
func checkOneVisibilityVariable(m *module) []string {
	worker, queue := visibilityVars(m)
	if len(worker) != 1 {
		return []string{fmt.Sprintf("worker --visibility values come from variables %v, want exactly one", sortedKeys(worker))}
	}
	var p []string
	for _, q := range sortedKeys(queue) {
		if vs := queue[q]; len(vs) != 1 || !vs[sortedKeys(worker)[0]] {
			p = append(p, fmt.Sprintf("queue %s visibility timeout comes from %v, the workers' --visibility from %v: not one variable",
				q, sortedKeys(vs), sortedKeys(worker)))
		}
	}
	return p
}

// --- buckets ------------------------------------------------------------------------------------

func refersToBucket(in instance, bucket string) bool {
	v, _ := in.get("bucket")
	s, _ := str(v)
	n, ok := refTo(s, "aws_s3_bucket")
	return ok && n == bucket
}

// checkBuckets: every bucket has a public access block with all four
// settings true, default encryption, ownership enforced (no ACLs).
func checkBuckets(m *module) []string {
	var p []string
	for _, b := range m.all("aws_s3_bucket") {
		addr := b.addr()
		if v, ok := get(m.base, b.block.Body, "acl"); ok {
			if s, _ := str(v); s != "private" {
				p = append(p, fmt.Sprintf("%s has acl %q", addr, s))
			}
		}
		blocked := false
		for _, r := range m.all("aws_s3_bucket_public_access_block") {
			for _, in := range m.instances(r) {
				if !refersToBucket(in, b.name) {
					continue
				}
				blocked = true
				for _, k := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"} {
					v, _ := in.get(k)
					if on, ok := boolean(v); !ok || !on {
						p = append(p, fmt.Sprintf("%s: public access block %s has %s not true", addr, in, k))
					}
				}
			}
		}
		if !blocked {
			p = append(p, addr+" has no public access block")
		}
		encrypted := false
		for _, r := range m.all("aws_s3_bucket_server_side_encryption_configuration") {
			for _, in := range m.instances(r) {
				if !refersToBucket(in, b.name) {
					continue
				}
				if rule, ok := first(in.ctx, r.block.Body, "rule"); ok {
					if def, ok := first(rule.ctx, rule.body, "apply_server_side_encryption_by_default"); ok {
						_, encrypted = def.get("sse_algorithm")
					}
				}
			}
		}
		if !encrypted {
			p = append(p, addr+" has no default encryption")
		}
		enforced := false
		for _, r := range m.all("aws_s3_bucket_ownership_controls") {
			for _, in := range m.instances(r) {
				if !refersToBucket(in, b.name) {
					continue
				}
				if rule, ok := first(in.ctx, r.block.Body, "rule"); ok {
					v, _ := rule.get("object_ownership")
					s, _ := str(v)
					enforced = s == "BucketOwnerEnforced"
				}
			}
		}
		if !enforced {
			p = append(p, addr+" does not enforce bucket ownership (ACLs stay possible)")
		}
		for _, r := range m.all("aws_s3_bucket_acl") {
			for _, in := range m.instances(r) {
				if refersToBucket(in, b.name) {
					p = append(p, fmt.Sprintf("%s has an ACL resource %s", addr, in))
				}
			}
		}
	}
	return p
}

// --- IAM ----------------------------------------------------------------------------------------------

type statement struct {
	where                 string
	effect                string
	actions, notActions   []string
	resources, notRes     []string
	resourcesKnown        bool
	principals            []string
	principalsKnownAnyone bool
}

// resourceless are actions AWS does not scope to a resource: the only ones
// allowed on "*".
var resourceless = map[string]bool{
	"ecr:GetAuthorizationToken":                true,
	"autoscaling:DescribeAutoScalingInstances": true,
	"autoscaling:DescribeAutoScalingGroups":    true,
	"cloudwatch:PutMetricData":                 true,
	"ec2:DescribeInstances":                    true,
	"sts:GetCallerIdentity":                    true,
}

// asgScoped are the actions that must name the fleet's ASGs.
var asgScoped = []string{"autoscaling:CompleteLifecycleAction", "autoscaling:SetInstanceProtection", "autoscaling:RecordLifecycleActionHeartbeat"}

func statements(m *module) []statement {
	var out []statement
	for _, r := range m.data("aws_iam_policy_document") {
		for _, in := range m.instances(r) {
			sts, _ := blocks(in.ctx, r.block.Body, "statement")
			for i, b := range sts {
				st := statement{where: fmt.Sprintf("%s statement %d", in, i+1), effect: "Allow"}
				if v, ok := b.get("effect"); ok {
					st.effect, _ = str(v)
				}
				if v, ok := b.get("actions"); ok {
					st.actions, _ = strs(v)
				}
				if v, ok := b.get("not_actions"); ok {
					st.notActions, _ = strs(v)
				}
				st.resourcesKnown = true
				if v, ok := b.get("resources"); ok {
					st.resources, st.resourcesKnown = strs(v)
				}
				if v, ok := b.get("not_resources"); ok {
					st.notRes, _ = strs(v)
				}
				pbs, _ := blocks(b.ctx, b.body, "principals")
				for _, pb := range pbs {
					tv, _ := pb.get("type")
					t, _ := str(tv)
					iv, _ := pb.get("identifiers")
					ids, _ := strs(iv)
					for _, id := range ids {
						st.principals = append(st.principals, t+":"+id)
						if id == "*" {
							st.principalsKnownAnyone = true
						}
					}
				}
				out = append(out, st)
			}
		}
	}
	// JSON policies written inline (jsonencode or heredoc).
	for _, r := range m.resources {
		if r.mode != "resource" {
			continue
		}
		for _, in := range m.instances(r) {
			for _, attr := range []string{"policy", "assume_role_policy", "access_policy"} {
				v, ok := in.get(attr)
				s, known := str(v)
				if !ok || !known || !strings.HasPrefix(strings.TrimSpace(s), "{") {
					continue
				}
				out = append(out, jsonStatements(fmt.Sprintf("%s.%s", in, attr), s)...)
			}
		}
	}
	return out
}

func jsonStatements(where, doc string) []statement {
	var d struct {
		Statement json.RawMessage
	}
	if json.Unmarshal([]byte(doc), &d) != nil {
		return []statement{{where: where + " (unparsable policy)", effect: "Allow", actions: []string{"*"}}}
	}
	var raw []map[string]any
	if json.Unmarshal(d.Statement, &raw) != nil {
		var one map[string]any
		if json.Unmarshal(d.Statement, &one) == nil {
			raw = []map[string]any{one}
		}
	}
	list := func(v any) []string {
		switch x := v.(type) {
		case string:
			return []string{x}
		case []any:
			var out []string
			for _, e := range x {
				if s, ok := e.(string); ok {
					out = append(out, s)
				}
			}
			return out
		}
		return nil
	}
	var out []statement
	for i, s := range raw {
		st := statement{where: fmt.Sprintf("%s statement %d", where, i+1), effect: "Allow", resourcesKnown: true}
		if e, ok := s["Effect"].(string); ok {
			st.effect = e
		}
		st.actions, st.notActions = list(s["Action"]), list(s["NotAction"])
		st.resources, st.notRes = list(s["Resource"]), list(s["NotResource"])
		switch pr := s["Principal"].(type) {
		case string:
			st.principals = []string{"*:" + pr}
			st.principalsKnownAnyone = pr == "*"
		case map[string]any:
			for t, ids := range pr {
				for _, id := range list(ids) {
					st.principals = append(st.principals, t+":"+id)
					st.principalsKnownAnyone = st.principalsKnownAnyone || id == "*"
				}
			}
		}
		out = append(out, st)
	}
	return out
}

// checkIAM: no Allow statement has a wildcard action ("*" or "svc:*" or a
// pattern), NotAction/NotResource, a "*" principal, or "*" resources for
// an action AWS can scope; lifecycle and instance-protection calls name
// the fleet's ASGs; a Lambda permission names its source.
func checkIAM(m *module) []string {
	var p []string
	sts := statements(m)
	if len(sts) == 0 {
		p = append(p, "no IAM policy statements found")
	}
	for _, st := range sts {
		if !strings.EqualFold(st.effect, "Allow") {
			continue
		}
		star := false
		for _, a := range st.actions {
			if strings.Contains(a, "*") {
				p = append(p, fmt.Sprintf("%s allows wildcard action %q", st.where, a))
				star = star || a == "*"
			}
		}
		if star && contains(st.resources, "*") {
			p = append(p, fmt.Sprintf("%s allows \"*\" on \"*\"", st.where))
		}
		if len(st.notActions) > 0 {
			p = append(p, st.where+" allows NotAction (everything else)")
		}
		if len(st.notRes) > 0 {
			p = append(p, st.where+" allows NotResource (everything else)")
		}
		if st.principalsKnownAnyone {
			p = append(p, st.where+" allows any principal (\"*\")")
		}
		if contains(st.resources, "*") {
			for _, a := range st.actions {
				if !resourceless[a] && !strings.Contains(a, "*") {
					p = append(p, fmt.Sprintf("%s allows %s on every resource (\"*\")", st.where, a))
				}
			}
		}
		for _, a := range st.actions {
			if !contains(asgScoped, a) {
				continue
			}
			if !st.resourcesKnown || len(st.resources) == 0 {
				p = append(p, fmt.Sprintf("%s: %s on resources that cannot be checked", st.where, a))
				continue
			}
			for _, res := range st.resources {
				_, isRef := refTo(res, "aws_autoscaling_group")
				if !isRef && !strings.Contains(res, ":autoScalingGroupName/") {
					p = append(p, fmt.Sprintf("%s: %s not limited to the fleet's ASGs (resource %q)", st.where, a, res))
				} else if strings.HasSuffix(res, "autoScalingGroupName/*") {
					p = append(p, fmt.Sprintf("%s: %s on every ASG (resource %q)", st.where, a, res))
				}
			}
		}
	}
	for _, r := range m.all("aws_lambda_permission") {
		for _, in := range m.instances(r) {
			if _, ok := in.get("source_arn"); !ok {
				p = append(p, fmt.Sprintf("%s has no source_arn: anyone's %s could invoke the function", in, "bucket"))
			}
		}
	}
	return p
}

// --- ASGs --------------------------------------------------------------------------------------------------

var capacityOptimized = map[string]bool{"capacity-optimized": true, "capacity-optimized-prioritized": true, "price-capacity-optimized": true}

const drainMargin = 30 // seconds the lifecycle hook must add to the drain timeout

// checkASG: each ASG is a spot fleet (mixed instances, on-demand above base
// < 100 %, capacity-optimized allocation, >= 6 instance types), rebalances
// capacity, holds a termination lifecycle hook long enough for its
// workers' drain timeout, and tracks backlog per instance by metric math.
func checkASG(m *module) []string {
	var p []string
	asgs := m.all("aws_autoscaling_group")
	if len(asgs) == 0 {
		p = append(p, "no aws_autoscaling_group")
	}
	for _, r := range asgs {
		for _, in := range m.instances(r) {
			p = append(p, checkOneASG(m, r, in)...)
		}
	}
	return p
}

func checkOneASG(m *module, r *resource, in instance) []string {
	var p []string
	body := in.body()
	rv, _ := body.get("capacity_rebalance")
	if on, ok := boolean(rv); !ok || !on {
		p = append(p, fmt.Sprintf("%s: capacity_rebalance is not true", in))
	}
	var ltName string
	mip, ok := first(in.ctx, body.body, "mixed_instances_policy")
	if !ok {
		p = append(p, fmt.Sprintf("%s has no mixed_instances_policy (no spot)", in))
	} else {
		if dist, ok := first(mip.ctx, mip.body, "instances_distribution"); !ok {
			p = append(p, fmt.Sprintf("%s: no instances_distribution (defaults to 100%% on-demand)", in))
		} else {
			v, ok := dist.get("on_demand_percentage_above_base_capacity")
			n, known := num(v)
			switch {
			case !ok:
				p = append(p, fmt.Sprintf("%s: on_demand_percentage_above_base_capacity unset (defaults to 100%%: no spot)", in))
			case !known:
				p = append(p, fmt.Sprintf("%s: on_demand_percentage_above_base_capacity cannot be evaluated", in))
			case n >= 100:
				p = append(p, fmt.Sprintf("%s: on_demand_percentage_above_base_capacity %g: no spot", in, n))
			}
			sv, _ := dist.get("spot_allocation_strategy")
			if s, _ := str(sv); !capacityOptimized[s] {
				p = append(p, fmt.Sprintf("%s: spot_allocation_strategy %q is not capacity-optimized", in, s))
			}
		}
		if lt, ok := first(mip.ctx, mip.body, "launch_template"); ok {
			ovs, unknown := blocks(lt.ctx, lt.body, "override")
			types := map[string]bool{}
			for _, o := range ovs {
				v, _ := o.get("instance_type")
				if s, ok := str(v); ok {
					types[s] = true
				}
			}
			if unknown {
				p = append(p, fmt.Sprintf("%s: instance type overrides cannot be evaluated", in))
			} else if len(types) < 6 {
				p = append(p, fmt.Sprintf("%s: %d instance types, want at least 6", in, len(types)))
			}
			if spec, ok := first(lt.ctx, lt.body, "launch_template_specification"); ok {
				for _, t := range m.all("aws_launch_template") {
					if traversesTo(spec.body, "launch_template_id", "aws_launch_template", t.name) ||
						traversesTo(spec.body, "launch_template_name", "aws_launch_template", t.name) {
						ltName = t.name
					}
				}
			}
		} else {
			p = append(p, fmt.Sprintf("%s: mixed_instances_policy has no launch_template", in))
		}
	}

	// Termination hooks: inline, or separate resources naming this ASG.
	type hook struct {
		name      string
		heartbeat float64
	}
	var hooks []hook
	addHook := func(b blockInst) {
		tv, _ := b.get("lifecycle_transition")
		if t, _ := str(tv); t != "autoscaling:EC2_INSTANCE_TERMINATING" {
			return
		}
		h := hook{heartbeat: 3600}
		if v, ok := b.get("heartbeat_timeout"); ok {
			if n, known := num(v); known {
				h.heartbeat = n
			} else {
				h.heartbeat = -1
			}
		}
		nv, _ := b.get("name")
		h.name, _ = str(nv)
		hooks = append(hooks, h)
	}
	inline, _ := blocks(in.ctx, body.body, "initial_lifecycle_hook")
	for _, b := range inline {
		addHook(b)
	}
	for _, hr := range m.all("aws_autoscaling_lifecycle_hook") {
		if traversesTo(hr.block.Body, "autoscaling_group_name", "aws_autoscaling_group", r.name) {
			for _, hi := range m.instances(hr) {
				if hi.key == in.key || in.key == "" {
					addHook(hi.body())
				}
			}
		}
	}
	if len(hooks) == 0 {
		p = append(p, fmt.Sprintf("%s has no termination lifecycle hook (autoscaling:EC2_INSTANCE_TERMINATING)", in))
	}

	// The workers its launch template starts, for the drain timeout.
	var cmds [][]string
	if ltName == "" {
		p = append(p, fmt.Sprintf("%s: launch template not found", in))
	} else {
		for _, t := range m.all("aws_launch_template") {
			if t.name != ltName {
				continue
			}
			for _, li := range m.instances(t) {
				if li.key == in.key || li.key == "" {
					cmds = append(cmds, userDataCommands(li)...)
				}
			}
		}
		if len(cmds) == 0 {
			p = append(p, fmt.Sprintf("%s: launch template %s starts no worker that can be read", in, ltName))
		}
	}
	hookNames := map[string]bool{}
	for _, h := range hooks {
		hookNames[h.name] = true
	}
	asgName := ""
	if v, ok := body.get("name"); ok {
		asgName, _ = str(v)
	}
	for _, c := range cmds {
		f := flags(c)
		d, err := time.ParseDuration(f["--drain-timeout"])
		if err != nil {
			p = append(p, fmt.Sprintf("%s: %s has no valid --drain-timeout", in, short(c)))
			continue
		}
		for _, h := range hooks {
			if h.heartbeat < d.Seconds()+drainMargin {
				p = append(p, fmt.Sprintf("%s: lifecycle hook %q heartbeat timeout %gs < drain timeout %gs + %d s margin",
					in, h.name, h.heartbeat, d.Seconds(), drainMargin))
			}
		}
		if hn, ok := f["--lifecycle-hook"]; ok && !hookNames[hn] {
			p = append(p, fmt.Sprintf("%s: worker --lifecycle-hook %q is not a termination hook of this ASG", in, hn))
		}
		if an, ok := f["--asg"]; ok && asgName != "" && an != asgName {
			p = append(p, fmt.Sprintf("%s: worker --asg %q, the ASG is %q", in, an, asgName))
		}
	}

	// Target tracking on backlog per instance.
	tracked := false
	for _, pr := range m.all("aws_autoscaling_policy") {
		if !traversesTo(pr.block.Body, "autoscaling_group_name", "aws_autoscaling_group", r.name) {
			continue
		}
		for _, pi := range m.instances(pr) {
			if pi.key != in.key && pi.key != "" && in.key != "" {
				continue
			}
			if ok, why := backlogTracking(pi); ok {
				tracked = true
			} else {
				p = append(p, fmt.Sprintf("%s: %s", pi, why))
			}
		}
	}
	if !tracked {
		p = append(p, fmt.Sprintf("%s has no target tracking on backlog per instance", in))
	}
	return p
}

func backlogTracking(pi instance) (bool, string) {
	pt, _ := pi.get("policy_type")
	if s, _ := str(pt); s != "TargetTrackingScaling" {
		return false, fmt.Sprintf("policy_type %q is not TargetTrackingScaling", s)
	}
	tt, ok := first(pi.ctx, pi.res.block.Body, "target_tracking_configuration")
	if !ok {
		return false, "no target_tracking_configuration"
	}
	tv, _ := tt.get("target_value")
	if n, ok := num(tv); !ok || n <= 0 {
		return false, "target_value is not a positive number"
	}
	cms, ok := first(tt.ctx, tt.body, "customized_metric_specification")
	if !ok {
		return false, "no customized_metric_specification (metric math)"
	}
	ms, _ := blocks(cms.ctx, cms.body, "metrics")
	names := map[string]bool{}
	expr := false
	for _, mb := range ms {
		if e, ok := mb.get("expression"); ok {
			rv, hasRD := mb.get("return_data")
			rd, _ := boolean(rv)
			if s, _ := str(e); strings.Contains(s, "/") && (rd || !hasRD) {
				expr = true
			}
			continue
		}
		if stat, ok := first(mb.ctx, mb.body, "metric_stat"); ok {
			if mt, ok := first(stat.ctx, stat.body, "metric"); ok {
				v, _ := mt.get("metric_name")
				s, _ := str(v)
				names[s] = true
			}
		}
	}
	for _, want := range []string{"ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible", "GroupInServiceInstances"} {
		if !names[want] {
			return false, "backlog metric math lacks " + want
		}
	}
	if !expr {
		return false, "no metric math expression dividing backlog by instances returns the data"
	}
	return true, ""
}

// --- IMDS ----------------------------------------------------------------------------------------------------

// checkIMDS: every launch template requires IMDSv2 tokens and lets a
// container reach IMDS (hop limit >= 2); IMDS stays on (spot notices).
func checkIMDS(m *module) []string {
	var p []string
	for _, r := range m.all("aws_launch_template") {
		for _, in := range m.instances(r) {
			mo, ok := first(in.ctx, r.block.Body, "metadata_options")
			if !ok {
				p = append(p, fmt.Sprintf("%s has no metadata_options (IMDSv1 allowed)", in))
				continue
			}
			tv, _ := mo.get("http_tokens")
			if s, _ := str(tv); s != "required" {
				p = append(p, fmt.Sprintf("%s: http_tokens %q, want \"required\" (IMDSv2)", in, s))
			}
			if ev, ok := mo.get("http_endpoint"); ok {
				if s, _ := str(ev); s == "disabled" {
					p = append(p, fmt.Sprintf("%s: IMDS disabled: the worker cannot see spot notices", in))
				}
			}
			hop := 1.0
			if hv, ok := mo.get("http_put_response_hop_limit"); ok {
				hop, _ = num(hv)
			}
			if hop < 2 {
				p = append(p, fmt.Sprintf("%s: http_put_response_hop_limit %g: a container cannot reach IMDS (want 2)", in, hop))
			}
		}
	}
	return p
}

// --- alarms ------------------------------------------------------------------------------------------------------

type alarm struct {
	where, namespace, metric, queue, cmp string
	metricFromFilter                     bool
	threshold                            float64
	actions                              bool
}

// checkAlarms: every DLQ has a not-empty alarm, every work queue an
// age-of-oldest-message alarm, the workers an errors alarm, each with an
// action; a dashboard exists.
func checkAlarms(m *module) []string {
	qs, dlqs, p := queues(m)
	var alarms []alarm
	for _, r := range m.all("aws_cloudwatch_metric_alarm") {
		for _, in := range m.instances(r) {
			a := alarm{where: in.String()}
			v, _ := in.get("namespace")
			a.namespace, _ = str(v)
			v, _ = in.get("metric_name")
			a.metric, _ = str(v)
			for _, f := range m.all("aws_cloudwatch_log_metric_filter") {
				a.metricFromFilter = a.metricFromFilter || traversesTo(r.block.Body, "metric_name", f.typ, f.name)
			}
			v, _ = in.get("comparison_operator")
			a.cmp, _ = str(v)
			v, _ = in.get("threshold")
			a.threshold, _ = num(v)
			if v, ok := in.get("dimensions"); ok && known(v) && v.Type().IsObjectType() && v.Type().HasAttribute("QueueName") {
				s, _ := str(v.GetAttr("QueueName"))
				a.queue, _ = refTo(s, "aws_sqs_queue")
			} else if ok && known(v) && v.Type().IsMapType() {
				if q, has := v.AsValueMap()["QueueName"]; has {
					s, _ := str(q)
					a.queue, _ = refTo(s, "aws_sqs_queue")
				}
			}
			v, ok := in.get("alarm_actions")
			acts, _ := strs(v)
			a.actions = len(acts) > 0 || (ok && !v.IsWhollyKnown()) // computed actions count
			alarms = append(alarms, a)
		}
	}
	has := func(ok func(a alarm) bool) bool {
		for _, a := range alarms {
			if ok(a) {
				return true
			}
		}
		return false
	}
	for _, d := range sortedKeys(dlqs) {
		if qs[d] == nil {
			continue
		}
		if !has(func(a alarm) bool {
			return a.queue == d && a.namespace == "AWS/SQS" && a.metric == "ApproximateNumberOfMessagesVisible" && a.actions &&
				((a.cmp == "GreaterThanThreshold" && a.threshold == 0) || (a.cmp == "GreaterThanOrEqualToThreshold" && a.threshold <= 1))
		}) {
			p = append(p, fmt.Sprintf("DLQ aws_sqs_queue.%s has no not-empty alarm with an action", d))
		}
	}
	for _, q := range sortedKeys(qs) {
		if dlqs[q] {
			continue
		}
		if !has(func(a alarm) bool {
			return a.queue == q && a.metric == "ApproximateAgeOfOldestMessage" && a.actions
		}) {
			p = append(p, fmt.Sprintf("queue aws_sqs_queue.%s has no age-of-oldest-message alarm with an action", q))
		}
	}
	if !has(func(a alarm) bool {
		return a.actions && (a.metricFromFilter || strings.Contains(strings.ToLower(a.metric), "error")) && a.namespace != "AWS/Lambda"
	}) {
		p = append(p, "no worker errors alarm (from a log metric filter or a worker error metric)")
	}
	if len(m.all("aws_cloudwatch_dashboard")) == 0 {
		p = append(p, "no aws_cloudwatch_dashboard")
	}
	return p
}

// --- live segments ---------------------------------------------------------------------------------------------

// liveRoute: objects under the live prefix must reach the live FIFO queue
// only through a component that sets the FIFO group per stream (and the
// deduplication id per segment), so streams run in parallel: the Lambda
// (HLSFLEET_LIVE_QUEUE_URL naming a FIFO queue, HLSFLEET_RULES making
// live-segment jobs of the prefix, its role allowed sqs:SendMessage there)
// or a worker with --live-queue reading the standard queue S3 notifies.
// EventBridge cannot: an SQS target's MessageGroupId is one fixed string.
func checkLive(m *module) []string {
	var p []string
	prefix, ok := str(m.vars["live_prefix"])
	if !ok || prefix == "" {
		return []string{"no variable live_prefix with a default: the live route cannot be followed"}
	}
	qs, dlqs, _ := queues(m)
	fifo := func(ref string) (string, bool) {
		n, ok := refTo(ref, "aws_sqs_queue")
		return n, ok && qs[n] != nil && qs[n].fifo && !dlqs[n]
	}
	for _, r := range m.all("aws_cloudwatch_event_target") {
		for _, in := range m.instances(r) {
			v, _ := in.get("arn")
			s, _ := str(v)
			q, isFIFO := fifo(s)
			if !isFIFO {
				continue
			}
			group := "none"
			if st, ok := first(in.ctx, r.block.Body, "sqs_target"); ok {
				if g, ok := st.get("message_group_id"); ok {
					if gs, known := str(g); known {
						group = fmt.Sprintf("%q", gs)
					} else {
						group = "from a variable"
					}
				}
			}
			p = append(p, fmt.Sprintf("%s sends to FIFO queue %s with one fixed MessageGroupId (%s): every stream shares one group, one segment in flight", in, q, group))
		}
	}
	overlaps := func(fp string) bool { return strings.HasPrefix(prefix, fp) || strings.HasPrefix(fp, prefix) }
	routed := false
	for _, r := range m.all("aws_s3_bucket_notification") {
		for _, in := range m.instances(r) {
			for _, kind := range []string{"lambda_function", "queue", "topic"} {
				bs, _ := blocks(in.ctx, r.block.Body, kind)
				for _, b := range bs {
					fv, _ := b.get("filter_prefix")
					fp, _ := str(fv)
					if !overlaps(fp) {
						continue
					}
					var why []string
					switch kind {
					case "lambda_function":
						v, _ := b.get("lambda_function_arn")
						s, _ := str(v)
						fn, ok := refTo(s, "aws_lambda_function")
						if !ok {
							why = []string{fmt.Sprintf("the function %q is not one of this module", s)}
						} else {
							why = liveLambda(m, fn, prefix, fifo)
						}
					case "queue":
						v, _ := b.get("queue_arn")
						s, _ := str(v)
						why = liveForwarder(m, s, fifo)
					default:
						why = []string{"an SNS topic cannot set a per-stream FIFO group"}
					}
					for _, w := range why {
						p = append(p, fmt.Sprintf("%s %s %q: %s", in, kind, fp, w))
					}
					routed = routed || len(why) == 0
				}
			}
		}
	}
	if !routed {
		p = append(p, fmt.Sprintf("no S3 notification for the live prefix %q reaches a component that groups by stream (the Lambda with HLSFLEET_LIVE_QUEUE_URL, or a worker with --live-queue)", prefix))
	}
	return p
}

// liveLambda returns why function fn does not send the live prefix's
// objects to a FIFO queue grouped by stream ("" reasons: it does).
func liveLambda(m *module, fn, prefix string, fifo func(string) (string, bool)) []string {
	var why []string
	var env cty.Value
	var role string
	for _, r := range m.all("aws_lambda_function") {
		if r.name != fn {
			continue
		}
		for _, in := range m.instances(r) {
			if e, ok := first(in.ctx, r.block.Body, "environment"); ok {
				env, _ = e.get("variables")
			}
			rv, _ := in.get("role")
			s, _ := str(rv)
			role, _ = refTo(s, "aws_iam_role")
		}
	}
	envVar := func(name string) string {
		if !known(env) || !(env.Type().IsObjectType() && env.Type().HasAttribute(name) || env.Type().IsMapType()) {
			return ""
		}
		if env.Type().IsMapType() {
			v, ok := env.AsValueMap()[name]
			if !ok {
				return ""
			}
			s, _ := str(v)
			return s
		}
		s, _ := str(env.GetAttr(name))
		return s
	}
	q, ok := fifo(envVar("HLSFLEET_LIVE_QUEUE_URL"))
	if !ok {
		why = append(why, fmt.Sprintf("aws_lambda_function.%s has no HLSFLEET_LIVE_QUEUE_URL naming a FIFO queue of this module (live segments would go to its CPU queue)", fn))
	}
	var rules []struct {
		Bucket, Prefix, Kind string
	}
	if err := json.Unmarshal([]byte(envVar("HLSFLEET_RULES")), &rules); err != nil {
		why = append(why, fmt.Sprintf("aws_lambda_function.%s has no HLSFLEET_RULES that can be read (its built-in rules put live outputs in the source bucket)", fn))
	} else {
		kind := "no rule"
		for _, r := range rules {
			if strings.HasPrefix(prefix+"stream/0.ts", r.Prefix) {
				kind = fmt.Sprintf("%q", r.Kind)
				break
			}
		}
		if kind != `"live-segment"` {
			why = append(why, fmt.Sprintf("aws_lambda_function.%s: HLSFLEET_RULES maps %s<stream>/<seq>.ts to kind %s, want \"live-segment\"", fn, prefix, kind))
		}
	}
	if ok {
		var actions []string
		for _, st := range roleStatements(m, role) {
			if strings.EqualFold(st.effect, "Allow") && contains(st.resources, "aws_sqs_queue."+q+".arn") {
				actions = append(actions, st.actions...)
			}
		}
		sort.Strings(actions)
		if !contains(actions, "sqs:SendMessage") {
			why = append(why, fmt.Sprintf("the role of aws_lambda_function.%s may not sqs:SendMessage to queue %s", fn, q))
		}
		for _, a := range actions {
			if a != "sqs:SendMessage" {
				why = append(why, fmt.Sprintf("the role of aws_lambda_function.%s may %s on queue %s: it only sends there", fn, a, q))
			}
		}
	}
	return why
}

// roleStatements returns the statements of the inline policies
// (aws_iam_role_policy from an aws_iam_policy_document) of aws_iam_role.role.
func roleStatements(m *module, role string) []statement {
	docs := map[string]bool{}
	for _, r := range m.all("aws_iam_role_policy") {
		if !traversesTo(r.block.Body, "role", "aws_iam_role", role) {
			continue
		}
		for _, in := range m.instances(r) {
			v, _ := in.get("policy")
			s, _ := str(v)
			if d, ok := refTo(strings.TrimPrefix(s, "data."), "aws_iam_policy_document"); ok {
				docs[d] = true
			}
		}
	}
	var out []statement
	for _, st := range statements(m) {
		for d := range docs {
			if strings.HasPrefix(st.where, "data.aws_iam_policy_document."+d+" ") {
				out = append(out, st)
			}
		}
	}
	return out
}

// liveForwarder returns why the standard queue S3 notifies (ref) does not
// get its live objects forwarded by a worker with --live-queue FIFO.
func liveForwarder(m *module, ref string, fifo func(string) (string, bool)) []string {
	if q, isFIFO := fifo(ref); isFIFO {
		return []string{fmt.Sprintf("S3 cannot notify FIFO queue %s", q)}
	}
	name, _ := refTo(ref, "aws_sqs_queue")
	for _, c := range workerCommands(m) {
		f := flags(c)
		if n, _ := refTo(f["--queue"], "aws_sqs_queue"); n != name || name == "" {
			continue
		}
		if _, ok := fifo(f["--live-queue"]); ok {
			return nil
		}
	}
	return []string{fmt.Sprintf("no worker reading queue %q forwards live segments with --live-queue to a FIFO queue", name)}
}

// --- helpers -------------------------------------------------------------------------------------------------------

func sortedKeys[V any](mp map[string]V) []string {
	out := make([]string, 0, len(mp))
	for k := range mp {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// --- tests ------------------------------------------------------------------------------------------------------------

const moduleDir = "terraform"

func mustLoad(t *testing.T, dir string) *module {
	t.Helper()
	m, err := loadModule(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTerraformModule(t *testing.T) {
	m := mustLoad(t, moduleDir)
	for _, name := range sortedKeys(m.localErrs) {
		t.Errorf("local.%s does not evaluate: %s", name, m.localErrs[name].Error())
	}
	for _, name := range sortedKeys(tfChecks) {
		t.Run(name, func(t *testing.T) {
			for _, problem := range tfChecks[name](m) {
				t.Error(problem)
			}
		})
	}
}

// TestTerraformExample: the example root is fmt-clean and calls the module
// with every required variable and only declared ones.
func TestTerraformExample(t *testing.T) {
	ex := mustLoad(t, moduleDir+"/examples/basic")
	for _, problem := range checkFmt(ex) {
		t.Error(problem)
	}
	for _, problem := range checkModuleCall(ex, mustLoad(t, moduleDir)) {
		t.Error(problem)
	}
}

func checkModuleCall(root, mod *module) []string {
	var p []string
	var call *hclsyntax.Block
	for _, b := range root.modules {
		if src, ok := get(root.base, b.Body, "source"); ok {
			if s, _ := str(src); s == "../.." {
				call = b
			}
		}
	}
	if call == nil {
		return []string{"no module call with source \"../..\""}
	}
	meta := map[string]bool{"source": true, "version": true, "providers": true, "count": true, "for_each": true, "depends_on": true}
	for _, name := range sortedKeys(call.Body.Attributes) {
		if _, ok := mod.vars[name]; !ok && !meta[name] {
			p = append(p, fmt.Sprintf("module %q sets %s, which the module does not declare", call.Labels[0], name))
		}
	}
	for _, name := range sortedKeys(mod.required) {
		if _, ok := call.Body.Attributes[name]; !ok {
			p = append(p, fmt.Sprintf("module %q does not set the required variable %s", call.Labels[0], name))
		}
	}
	return p
}

// TestTerraformModuleCallRejected: the example check fails on a call that
// misses a required variable and sets an undeclared one.
func TestTerraformModuleCallRejected(t *testing.T) {
	root := mustLoad(t, "testdata/terraform/modulecall")
	problems := strings.Join(checkModuleCall(root, mustLoad(t, moduleDir)), "\n")
	for _, want := range []string{
		`module "hlsfleet" sets worker_count, which the module does not declare`,
		`module "hlsfleet" does not set the required variable lambda_image_uri`,
	} {
		if !strings.Contains(problems, want) {
			t.Errorf("no problem mentions %q; got:\n%s", want, problems)
		}
	}
}

// TestTerraformModuleShape pins what the checks run over, so a check cannot
// pass by finding nothing: the queues and DLQs, buckets, fleets, alarms
// and the timing the defaults give.
func TestTerraformModuleShape(t *testing.T) {
	m := mustLoad(t, moduleDir)
	qs, dlqs, _ := queues(m)
	if got, want := strings.Join(sortedKeys(qs), " "), "clips_dlq gpu gpu_dlq jobs jobs_dlq live live_dlq"; got != want {
		t.Errorf("queues %q, want %q", got, want)
	}
	if got, want := strings.Join(sortedKeys(dlqs), " "), "clips_dlq gpu_dlq jobs_dlq live_dlq"; got != want {
		t.Errorf("DLQs %q, want %q", got, want)
	}
	if !qs["live"].fifo || !qs["live_dlq"].fifo {
		t.Error("the live queue and its DLQ must be FIFO")
	}
	if n := len(m.all("aws_s3_bucket")); n != 2 {
		t.Errorf("%d buckets, want 2 (source, output)", n)
	}
	var keys []string
	for _, r := range m.all("aws_autoscaling_group") {
		for _, in := range m.instances(r) {
			keys = append(keys, in.key)
		}
	}
	sort.Strings(keys)
	if got := strings.Join(keys, " "); got != "cpu gpu" {
		t.Errorf("ASG instances %q, want \"cpu gpu\"", got)
	}
	cmds := workerCommands(m)
	queuesRead := map[string]bool{}
	for _, c := range cmds {
		f := flags(c)
		n, _ := refTo(f["--queue"], "aws_sqs_queue")
		queuesRead[n] = true
		if f["--visibility"] != "60s" || f["--drain-timeout"] != "300s" {
			t.Errorf("%s: --visibility %q --drain-timeout %q, want 60s and 300s from the variables", short(c), f["--visibility"], f["--drain-timeout"])
		}
	}
	if got := strings.Join(sortedKeys(queuesRead), " "); got != "gpu jobs live" {
		t.Errorf("workers read queues %q, want \"gpu jobs live\"", got)
	}
	for name, want := range map[string]float64{
		"heartbeat_interval_seconds":  20,
		"lifecycle_heartbeat_seconds": 360,
		"container_stop_seconds":      360,
		"cpu_backlog_target":          10,
		"gpu_backlog_target":          30,
	} {
		if got, ok := num(m.locals[name]); !ok || got != want {
			t.Errorf("local.%s = %v, want %v", name, m.locals[name].GoString(), want)
		}
	}
	// Every statement is found: the worker and Lambda policies alone have 17.
	if n := len(statements(m)); n < 17 {
		t.Errorf("%d IAM statements found, want at least 17", n)
	}
	var dlqAlarms int
	for _, r := range m.all("aws_cloudwatch_metric_alarm") {
		if r.name == "dlq_not_empty" {
			dlqAlarms = len(m.instances(r))
		}
	}
	if dlqAlarms != 4 {
		t.Errorf("%d DLQ alarms, want 4", dlqAlarms)
	}
}

// TestTerraformLiveWorkerRoute: the live check accepts the other route
// that groups by stream, a worker forwarding with --live-queue, so it
// rejects EventBridge for its fixed group and not merely for not being
// the Lambda.
func TestTerraformLiveWorkerRoute(t *testing.T) {
	m := mustLoad(t, "testdata/terraform/liveworker")
	for _, problem := range checkLive(m) {
		t.Error(problem)
	}
	for _, problem := range checkFmt(m) {
		t.Error(problem)
	}
}

// TestTerraformFixturesRejected: each check rejects a module broken in its
// own way (testdata/terraform/<dir>), naming the problem.
func TestTerraformFixturesRejected(t *testing.T) {
	cases := []struct {
		dir, check string
		want       []string
	}{
		{"fmt", "fmt", []string{"bad.tf is not terraform fmt-clean"}},
		{"redrive", "redrive", []string{
			"aws_sqs_queue.gpu has no redrive policy to a DLQ",
			"aws_sqs_queue.live (fifo true) redrives to jobs_dlq (fifo false)",
			"aws_sqs_queue.jobs: maxReceiveCount 0",
		}},
		{"visibility", "visibility", []string{
			"queue jobs visibility timeout 120s < 3 x heartbeat interval 100s (worker --visibility 300s)",
			"queue jobs visibility timeout comes from [queue_visibility_seconds], the workers' --visibility from [worker_visibility_seconds]: not one variable",
		}},
		{"buckets", "buckets", []string{
			"aws_s3_bucket.open has no public access block",
			"has restrict_public_buckets not true",
			"aws_s3_bucket.open has no default encryption",
			"aws_s3_bucket.open does not enforce bucket ownership",
		}},
		{"iam", "iam", []string{
			`allows wildcard action "*"`,
			`allows "*" on "*"`,
			`allows wildcard action "s3:*"`,
			`allows sqs:SendMessage on every resource`,
			`autoscaling:CompleteLifecycleAction not limited to the fleet's ASGs`,
			`aws_iam_role_policy.inline.policy statement 1 allows wildcard action "*"`,
			`allows any principal`,
		}},
		{"asg", "asg", []string{
			"aws_autoscaling_group.ondemand: on_demand_percentage_above_base_capacity 100: no spot",
			`aws_autoscaling_group.ondemand: spot_allocation_strategy "lowest-price" is not capacity-optimized`,
			"aws_autoscaling_group.ondemand: 3 instance types, want at least 6",
			"aws_autoscaling_group.ondemand: capacity_rebalance is not true",
			"aws_autoscaling_group.ondemand has no termination lifecycle hook",
			"aws_autoscaling_group.ondemand has no target tracking on backlog per instance",
			`aws_autoscaling_group.shorthook: lifecycle hook "drain" heartbeat timeout 120s < drain timeout 300s + 30 s margin`,
		}},
		{"imds", "imds", []string{
			`aws_launch_template.v1: http_tokens "optional", want "required"`,
			"aws_launch_template.v1: http_put_response_hop_limit 1",
			"aws_launch_template.nometa has no metadata_options",
		}},
		{"live", "live", []string{
			`aws_cloudwatch_event_target.live_segments sends to FIFO queue live with one fixed MessageGroupId ("s3-live"): every stream shares one group`,
			`no S3 notification for the live prefix "live/" reaches a component that groups by stream`,
		}},
		{"livelambda", "live", []string{
			`aws_s3_bucket_notification.source lambda_function "live/": aws_lambda_function.clips has no HLSFLEET_LIVE_QUEUE_URL naming a FIFO queue`,
			`HLSFLEET_RULES maps live/<stream>/<seq>.ts to kind "", want "live-segment"`,
			`aws_s3_bucket_notification.other queue "live/": no worker reading queue "jobs" forwards live segments with --live-queue`,
			`the role of aws_lambda_function.live may not sqs:SendMessage to queue live`,
			`the role of aws_lambda_function.live may sqs:ReceiveMessage on queue live: it only sends there`,
			`no S3 notification for the live prefix "live/" reaches a component that groups by stream`,
		}},
		{"alarms", "alarms", []string{
			"DLQ aws_sqs_queue.gpu_dlq has no not-empty alarm",
			"queue aws_sqs_queue.gpu has no age-of-oldest-message alarm",
			"no worker errors alarm",
			"no aws_cloudwatch_dashboard",
		}},
	}
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			m := mustLoad(t, "testdata/terraform/"+c.dir)
			problems := tfChecks[c.check](m)
			if len(problems) == 0 {
				t.Fatalf("check %s accepted the broken fixture %s", c.check, c.dir)
			}
			all := strings.Join(problems, "\n")
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("check %s: no problem mentions %q; got:\n%s", c.check, w, all)
				}
			}
			t.Logf("%s rejected with:\n%s", c.dir, all)
		})
	}
}
