package infra_test

// A small, offline Terraform reader for the invariant tests: it parses every
// .tf file of a directory with hashicorp/hcl/v2, evaluates variable
// defaults and locals, and evaluates resource attributes per for_each
// instance. References to resources and data sources evaluate to
// placeholder strings naming them ("aws_sqs_queue.jobs.arn"), so a test can
// follow which queue a redrive policy, an alarm or a worker flag points at
// without a provider or an AWS account. Functions are go-cty's standard
// library plus Terraform's few the module uses; templatefile returns its
// variables as JSON, so a test can read what the user data was given.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

type module struct {
	dir       string
	files     map[string][]byte // file name -> source
	vars      map[string]cty.Value
	localExpr map[string]hclsyntax.Expression
	locals    map[string]cty.Value
	localErrs map[string]hcl.Diagnostics
	resources []*resource
	modules   map[string]*hclsyntax.Block // module calls by name
	required  map[string]bool             // variables without a default
	refs      map[string]*refNode         // placeholder trees by root name
	base      *hcl.EvalContext
}

type resource struct {
	mode      string // "resource" or "data"
	typ, name string
	block     *hclsyntax.Block
}

func (r *resource) addr() string {
	if r.mode == "data" {
		return "data." + r.typ + "." + r.name
	}
	return r.typ + "." + r.name
}

// instance is one for_each/count instance of a resource: its body and the
// evaluation context with each/count set.
type instance struct {
	res *resource
	key string
	ctx *hcl.EvalContext
}

func (i instance) String() string {
	if i.key == "" {
		return i.res.addr()
	}
	return fmt.Sprintf("%s[%q]", i.res.addr(), i.key)
}

func loadModule(dir string) (*module, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no .tf files in %s", dir)
	}
	m := &module{
		dir: dir, files: map[string][]byte{}, vars: map[string]cty.Value{},
		localExpr: map[string]hclsyntax.Expression{}, locals: map[string]cty.Value{},
		localErrs: map[string]hcl.Diagnostics{}, refs: map[string]*refNode{},
		modules: map[string]*hclsyntax.Block{}, required: map[string]bool{},
	}
	p := hclparse.NewParser()
	var bodies []*hclsyntax.Body
	for _, name := range names {
		src, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		f, diags := p.ParseHCL(src, name)
		if diags.HasErrors() {
			return nil, fmt.Errorf("parsing %s: %s", name, diags.Error())
		}
		m.files[filepath.Base(name)] = src
		bodies = append(bodies, f.Body.(*hclsyntax.Body))
	}
	for _, body := range bodies {
		for _, b := range body.Blocks {
			switch b.Type {
			case "variable":
				v := cty.DynamicVal // no default: unknown
				if a, ok := b.Body.Attributes["default"]; ok {
					dv, diags := a.Expr.Value(&hcl.EvalContext{Functions: functions()})
					if diags.HasErrors() {
						return nil, fmt.Errorf("variable %s default: %s", b.Labels[0], diags.Error())
					}
					v = dv
				} else {
					m.required[b.Labels[0]] = true
				}
				m.vars[b.Labels[0]] = v
			case "locals":
				for name, a := range b.Body.Attributes {
					if _, dup := m.localExpr[name]; dup {
						return nil, fmt.Errorf("local %s defined twice", name)
					}
					m.localExpr[name] = a.Expr
				}
			case "module":
				m.modules[b.Labels[0]] = b
			case "resource", "data":
				m.resources = append(m.resources, &resource{mode: b.Type, typ: b.Labels[0], name: b.Labels[1], block: b})
			}
		}
		collectRefs(body, m.refs)
	}
	sort.Slice(m.resources, func(i, j int) bool { return m.resources[i].addr() < m.resources[j].addr() })
	for name := range m.localExpr {
		m.evalLocal(name, map[string]bool{})
	}
	m.base = m.context(m.locals)
	return m, nil
}

func (m *module) context(locals map[string]cty.Value) *hcl.EvalContext {
	vars := map[string]cty.Value{"var": cty.ObjectVal(m.vars), "local": cty.ObjectVal(locals)}
	for root, n := range m.refs {
		vars[root] = n.value(root)
	}
	return &hcl.EvalContext{Variables: vars, Functions: functions()}
}

func (m *module) evalLocal(name string, visiting map[string]bool) cty.Value {
	if v, ok := m.locals[name]; ok {
		return v
	}
	expr, ok := m.localExpr[name]
	if !ok || visiting[name] {
		return cty.DynamicVal
	}
	visiting[name] = true
	for _, tr := range expr.Variables() {
		if tr.RootName() == "local" && len(tr) > 1 {
			if a, ok := tr[1].(hcl.TraverseAttr); ok {
				m.evalLocal(a.Name, visiting)
			}
		}
	}
	locals := map[string]cty.Value{}
	for n := range m.localExpr {
		locals[n] = cty.DynamicVal
	}
	for n, v := range m.locals {
		locals[n] = v
	}
	v, diags := expr.Value(m.context(locals))
	if diags.HasErrors() {
		m.localErrs[name] = diags
		v = cty.DynamicVal
	}
	m.locals[name] = v
	return v
}

// all returns the resources (mode "resource") of one type.
func (m *module) all(typ string) []*resource {
	var out []*resource
	for _, r := range m.resources {
		if r.mode == "resource" && r.typ == typ {
			out = append(out, r)
		}
	}
	return out
}

func (m *module) data(typ string) []*resource {
	var out []*resource
	for _, r := range m.resources {
		if r.mode == "data" && r.typ == typ {
			out = append(out, r)
		}
	}
	return out
}

// instances expands for_each and count. An unknown for_each gives one
// instance with an unknown each (key "?").
func (m *module) instances(r *resource) []instance {
	body := r.block.Body
	if a, ok := body.Attributes["for_each"]; ok {
		v, diags := a.Expr.Value(m.base)
		if diags.HasErrors() || !v.IsKnown() || v.IsNull() || !v.CanIterateElements() {
			return []instance{{res: r, key: "?", ctx: withEach(m.base, cty.UnknownVal(cty.String), cty.DynamicVal)}}
		}
		var out []instance
		for it := v.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			if v.Type().IsSetType() {
				k = ev
			}
			ks, _ := str(k)
			out = append(out, instance{res: r, key: ks, ctx: withEach(m.base, k, ev)})
		}
		return out
	}
	if a, ok := body.Attributes["count"]; ok {
		v, diags := a.Expr.Value(m.base)
		n, ok := num(v)
		if diags.HasErrors() || !ok {
			return []instance{{res: r, key: "?", ctx: m.base}}
		}
		var out []instance
		for i := 0; i < int(n); i++ {
			c := m.base.NewChild()
			c.Variables = map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(int64(i))})}
			out = append(out, instance{res: r, key: fmt.Sprint(i), ctx: c})
		}
		return out
	}
	return []instance{{res: r, ctx: m.base}}
}

func withEach(parent *hcl.EvalContext, key, value cty.Value) *hcl.EvalContext {
	c := parent.NewChild()
	c.Variables = map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": key, "value": value})}
	return c
}

// blockInst is one nested block, static or generated by a dynamic block,
// with the context its expressions evaluate in.
type blockInst struct {
	body *hclsyntax.Body
	ctx  *hcl.EvalContext
}

// blocks returns the nested blocks of a type, expanding `dynamic "type"`
// blocks. unknown reports a dynamic block whose for_each is unknown (it
// then contributes one block with an unknown iterator).
func blocks(ctx *hcl.EvalContext, body *hclsyntax.Body, typ string) (out []blockInst, unknown bool) {
	for _, b := range body.Blocks {
		if b.Type == typ {
			out = append(out, blockInst{b.Body, ctx})
			continue
		}
		if b.Type != "dynamic" || len(b.Labels) != 1 || b.Labels[0] != typ {
			continue
		}
		iter := typ
		if a, ok := b.Body.Attributes["iterator"]; ok {
			iter = hcl.ExprAsKeyword(a.Expr)
		}
		var content *hclsyntax.Body
		for _, cb := range b.Body.Blocks {
			if cb.Type == "content" {
				content = cb.Body
			}
		}
		if content == nil {
			continue
		}
		mk := func(k, v cty.Value) *hcl.EvalContext {
			c := ctx.NewChild()
			c.Variables = map[string]cty.Value{iter: cty.ObjectVal(map[string]cty.Value{"key": k, "value": v})}
			return c
		}
		fe, diags := b.Body.Attributes["for_each"].Expr.Value(ctx)
		if diags.HasErrors() || !fe.IsKnown() || fe.IsNull() || !fe.CanIterateElements() {
			unknown = true
			out = append(out, blockInst{content, mk(cty.DynamicVal, cty.DynamicVal)})
			continue
		}
		for it := fe.ElementIterator(); it.Next(); {
			k, v := it.Element()
			if fe.Type().IsSetType() {
				k = v
			}
			out = append(out, blockInst{content, mk(k, v)})
		}
	}
	return out, unknown
}

// first returns the first nested block of a type (static or dynamic).
func first(ctx *hcl.EvalContext, body *hclsyntax.Body, typ string) (blockInst, bool) {
	bs, _ := blocks(ctx, body, typ)
	if len(bs) == 0 {
		return blockInst{}, false
	}
	return bs[0], true
}

// get evaluates an attribute; ok is false when the attribute is absent.
// An evaluation error gives an unknown value.
func get(ctx *hcl.EvalContext, body *hclsyntax.Body, name string) (cty.Value, bool) {
	a, ok := body.Attributes[name]
	if !ok {
		return cty.NilVal, false
	}
	v, diags := a.Expr.Value(ctx)
	if diags.HasErrors() {
		return cty.DynamicVal, true
	}
	return v, true
}

func (b blockInst) get(name string) (cty.Value, bool) { return get(b.ctx, b.body, name) }

func (i instance) get(name string) (cty.Value, bool) { return get(i.ctx, i.res.block.Body, name) }

func (i instance) body() blockInst { return blockInst{i.res.block.Body, i.ctx} }

// --- value helpers ---------------------------------------------------------------

func known(v cty.Value) bool { return v != cty.NilVal && v.IsWhollyKnown() && !v.IsNull() }

func str(v cty.Value) (string, bool) {
	if !known(v) {
		return "", false
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		return "", false
	}
	return s.AsString(), true
}

func num(v cty.Value) (float64, bool) {
	if !known(v) {
		return 0, false
	}
	n, err := convert.Convert(v, cty.Number)
	if err != nil {
		return 0, false
	}
	f, _ := n.AsBigFloat().Float64()
	return f, true
}

func boolean(v cty.Value) (bool, bool) {
	if !known(v) {
		return false, false
	}
	b, err := convert.Convert(v, cty.Bool)
	if err != nil {
		return false, false
	}
	return b.True(), true
}

// strs returns the known string elements of a list, set or tuple (or a
// lone string), and whether every element was known.
func strs(v cty.Value) ([]string, bool) {
	if v == cty.NilVal || !v.IsKnown() || v.IsNull() {
		return nil, false
	}
	if v.Type() == cty.String {
		return []string{v.AsString()}, true
	}
	if !v.CanIterateElements() {
		return nil, false
	}
	var out []string
	all := true
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if s, ok := str(e); ok {
			out = append(out, s)
		} else {
			all = false
		}
	}
	return out, all
}

// refTo reports the resource name a placeholder of the given type names:
// "aws_sqs_queue.jobs.arn" -> "jobs" for type aws_sqs_queue.
func refTo(s, typ string) (string, bool) {
	rest, ok := strings.CutPrefix(s, typ+".")
	if !ok {
		return "", false
	}
	name, _, _ := strings.Cut(rest, ".")
	return name, name != ""
}

// traversesTo reports whether an expression refers to resource typ.name
// (with or without an index), found by static analysis of its references.
func traversesTo(body *hclsyntax.Body, attr, typ, name string) bool {
	a, ok := body.Attributes[attr]
	if !ok {
		return false
	}
	for _, tr := range a.Expr.Variables() {
		if tr.RootName() != typ || len(tr) < 2 {
			continue
		}
		if s, ok := tr[1].(hcl.TraverseAttr); ok && s.Name == name {
			return true
		}
	}
	return false
}

// ctyToGo turns a value into plain Go (for JSON); unknowns become nil.
func ctyToGo(v cty.Value) any {
	if v == cty.NilVal || !v.IsKnown() || v.IsNull() {
		return nil
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString()
	case t == cty.Number:
		f, _ := v.AsBigFloat().Float64()
		return f
	case t == cty.Bool:
		return v.True()
	case t.IsListType() || t.IsSetType() || t.IsTupleType():
		out := []any{}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, ctyToGo(e))
		}
		return out
	case t.IsMapType() || t.IsObjectType():
		out := map[string]any{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			out[k.AsString()] = ctyToGo(e)
		}
		return out
	}
	return nil
}

// --- placeholders for references ------------------------------------------------------

type refNode struct {
	children map[string]*refNode
	indexed  bool
}

var notRefs = map[string]bool{"var": true, "local": true, "each": true, "count": true, "self": true, "terraform": true}

func collectRefs(body *hclsyntax.Body, roots map[string]*refNode) {
	for _, a := range body.Attributes {
		for _, tr := range a.Expr.Variables() {
			root := tr.RootName()
			if notRefs[root] {
				continue
			}
			n := roots[root]
			if n == nil {
				n = &refNode{}
				roots[root] = n
			}
			for _, step := range tr[1:] {
				switch s := step.(type) {
				case hcl.TraverseAttr:
					if n.children == nil {
						n.children = map[string]*refNode{}
					}
					c := n.children[s.Name]
					if c == nil {
						c = &refNode{}
						n.children[s.Name] = c
					}
					n = c
					continue
				default:
					n.indexed = true
				}
				break
			}
		}
	}
	for _, b := range body.Blocks {
		collectRefs(b.Body, roots)
	}
}

func (n *refNode) value(path string) cty.Value {
	if n.indexed {
		return cty.DynamicVal
	}
	if len(n.children) == 0 {
		return cty.StringVal(path)
	}
	attrs := map[string]cty.Value{}
	for k, c := range n.children {
		attrs[k] = c.value(path + "." + k)
	}
	return cty.ObjectVal(attrs)
}

// --- functions -------------------------------------------------------------------

func functions() map[string]function.Function {
	to := func(ty cty.Type) function.Function {
		return function.New(&function.Spec{
			Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType, AllowNull: true}},
			Type:   function.StaticReturnType(ty),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				return convert.Convert(args[0], ty)
			},
		})
	}
	return map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "floor": stdlib.FloorFunc,
		"max": stdlib.MaxFunc, "min": stdlib.MinFunc, "concat": stdlib.ConcatFunc,
		"contains": stdlib.ContainsFunc, "distinct": stdlib.DistinctFunc, "flatten": stdlib.FlattenFunc,
		"format": stdlib.FormatFunc, "join": stdlib.JoinFunc, "jsonencode": stdlib.JSONEncodeFunc,
		"jsondecode": stdlib.JSONDecodeFunc, "keys": stdlib.KeysFunc, "values": stdlib.ValuesFunc,
		"length": stdlib.LengthFunc, "lower": stdlib.LowerFunc, "upper": stdlib.UpperFunc,
		"merge": stdlib.MergeFunc, "regex": stdlib.RegexFunc, "replace": stdlib.ReplaceFunc,
		"split": stdlib.SplitFunc, "slice": stdlib.SliceFunc, "substr": stdlib.SubstrFunc,
		"trimprefix": stdlib.TrimPrefixFunc, "trimsuffix": stdlib.TrimSuffixFunc,
		"coalesce": stdlib.CoalesceFunc, "lookup": stdlib.LookupFunc, "element": stdlib.ElementFunc,
		"zipmap": stdlib.ZipmapFunc, "range": stdlib.RangeFunc, "sort": stdlib.SortFunc,
		"compact": stdlib.CompactFunc,
		"can":     tryfunc.CanFunc, "try": tryfunc.TryFunc,
		"tostring": to(cty.String), "tonumber": to(cty.Number), "tobool": to(cty.Bool),
		"base64encode": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "s", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				return cty.StringVal(base64.StdEncoding.EncodeToString([]byte(args[0].AsString()))), nil
			},
		}),
		// templatefile(path, vars) -> the vars as JSON: what the template was given.
		"templatefile": function.New(&function.Spec{
			Params: []function.Parameter{
				{Name: "path", Type: cty.String, AllowUnknown: true},
				{Name: "vars", Type: cty.DynamicPseudoType, AllowUnknown: true, AllowNull: true},
			},
			Type: function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				data, err := json.Marshal(ctyToGo(args[1]))
				if err != nil {
					return cty.NilVal, err
				}
				return cty.StringVal(string(data)), nil
			},
		}),
	}
}
