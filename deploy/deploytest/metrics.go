package deploytest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metric is a metric family the code registers.
type Metric struct {
	Name string
	// Kind is counter, gauge, histogram, summary or untyped.
	Kind string
	// Labels are the variable and constant label names.
	Labels []string
	// Where is the file and line of the options literal.
	Where string
}

// Series are the names Prometheus stores for the family: histograms and summaries add
// _bucket/_sum/_count.
func (m Metric) Series() []string {
	switch m.Kind {
	case "histogram":
		return []string{m.Name + "_bucket", m.Name + "_sum", m.Name + "_count"}
	case "summary":
		return []string{m.Name, m.Name + "_sum", m.Name + "_count"}
	}
	return []string{m.Name}
}

var optsKinds = map[string]string{
	"CounterOpts":   "counter",
	"GaugeOpts":     "gauge",
	"HistogramOpts": "histogram",
	"SummaryOpts":   "summary",
	"Opts":          "untyped",
}

// CodeMetrics reads every Go file under dir (tests excluded) and returns the metrics defined by
// prometheus.*Opts literals: Namespace, Subsystem and Name joined as client_golang does, the
// label names of the New*Vec call that takes the literal, and the ConstLabels keys. Names
// given as constants of the same package are resolved.
func CodeMetrics(dir string) (map[string]Metric, error) {
	fset := token.NewFileSet()
	pkgs := map[string][]*ast.File{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == "testdata" || n == "node_modules" || strings.HasPrefix(n, ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		pkgs[filepath.Dir(path)] = append(pkgs[filepath.Dir(path)], f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := map[string]Metric{}
	for _, files := range pkgs {
		consts := stringConsts(files)
		for _, f := range files {
			prom := importName(f, "github.com/prometheus/client_golang/prometheus")
			if prom == "" {
				continue
			}
			lists := stringLists(f, consts)
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					// prometheus.NewCounterVec(prometheus.CounterOpts{...}, []string{...})
					if len(n.Args) == 2 {
						if lit, kind := promOpts(n.Args[0], prom); lit != nil {
							m, err := metricOf(fset, lit, kind, consts)
							if err == nil {
								m.Labels = append(m.Labels, labelNames(n.Args[1], consts, lists)...)
								addMetric(out, m)
							}
						}
					}
				case *ast.CompositeLit:
					if _, kind := promOpts(n, prom); kind != "" {
						m, merr := metricOf(fset, n, kind, consts)
						if merr != nil {
							err = merr
							return false
						}
						addMetric(out, m)
					}
				}
				return true
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func addMetric(out map[string]Metric, m Metric) {
	if prev, ok := out[m.Name]; ok {
		m.Labels = append(m.Labels, prev.Labels...)
	}
	sort.Strings(m.Labels)
	m.Labels = dedupe(m.Labels)
	out[m.Name] = m
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func importName(f *ast.File, path string) string {
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == path {
			if imp.Name != nil {
				return imp.Name.Name
			}
			return filepath.Base(path)
		}
	}
	return ""
}

// promOpts says whether e is a prometheus.<Kind>Opts literal.
func promOpts(e ast.Expr, prom string) (*ast.CompositeLit, string) {
	if u, ok := e.(*ast.UnaryExpr); ok && u.Op == token.AND {
		e = u.X
	}
	lit, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil, ""
	}
	sel, ok := lit.Type.(*ast.SelectorExpr)
	if !ok {
		return nil, ""
	}
	if x, ok := sel.X.(*ast.Ident); !ok || x.Name != prom {
		return nil, ""
	}
	kind, ok := optsKinds[sel.Sel.Name]
	if !ok {
		return nil, ""
	}
	return lit, kind
}

func metricOf(fset *token.FileSet, lit *ast.CompositeLit, kind string, consts map[string]string) (Metric, error) {
	m := Metric{Kind: kind, Where: fset.Position(lit.Pos()).String()}
	var ns, sub, name string
	for _, el := range lit.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		key, _ := kv.Key.(*ast.Ident)
		if key == nil {
			continue
		}
		switch key.Name {
		case "Namespace", "Subsystem", "Name":
			v, ok := stringValue(kv.Value, consts)
			if !ok {
				return m, fmt.Errorf("%s: metric %s is not a string constant: extend deploytest.CodeMetrics", m.Where, key.Name)
			}
			switch key.Name {
			case "Namespace":
				ns = v
			case "Subsystem":
				sub = v
			default:
				name = v
			}
		case "ConstLabels":
			// A label set the source does not spell out would leave alerts on its labels
			// unchecked: refuse it rather than guess.
			cl, ok := kv.Value.(*ast.CompositeLit)
			if !ok {
				return m, fmt.Errorf("%s: ConstLabels is not a literal map: write prometheus.Labels{...} at the metric, or extend deploytest.CodeMetrics", m.Where)
			}
			for _, e := range cl.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				k, ok := stringValue(kv.Key, consts)
				if !ok {
					return m, fmt.Errorf("%s: a ConstLabels key is not a string constant", m.Where)
				}
				m.Labels = append(m.Labels, k)
			}
		}
	}
	m.Name = prometheus.BuildFQName(ns, sub, name)
	if m.Name == "" {
		return m, fmt.Errorf("%s: metric without a name", m.Where)
	}
	return m, nil
}

func stringValue(e ast.Expr, consts map[string]string) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind == token.STRING {
			s, err := strconv.Unquote(e.Value)
			return s, err == nil
		}
	case *ast.Ident:
		s, ok := consts[e.Name]
		return s, ok
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			a, ok1 := stringValue(e.X, consts)
			b, ok2 := stringValue(e.Y, consts)
			return a + b, ok1 && ok2
		}
	}
	return "", false
}

// labelNames are the label names a New*Vec call passes: a []string literal, or a variable of
// the same file assigned one.
func labelNames(e ast.Expr, consts map[string]string, lists map[string][]string) []string {
	if id, ok := e.(*ast.Ident); ok {
		return lists[id.Name]
	}
	return stringList(e, consts)
}

// stringLists are the file's variables assigned a []string literal (name := []string{...}).
func stringLists(f *ast.File, consts map[string]string) map[string][]string {
	out := map[string][]string{}
	add := func(names []*ast.Ident, values []ast.Expr) {
		for i, n := range names {
			if i < len(values) {
				if l := stringList(values[i], consts); l != nil {
					out[n.Name] = l
				}
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			var names []*ast.Ident
			for _, l := range n.Lhs {
				id, _ := l.(*ast.Ident)
				if id == nil {
					id = &ast.Ident{Name: "_"}
				}
				names = append(names, id)
			}
			add(names, n.Rhs)
		case *ast.ValueSpec:
			add(n.Names, n.Values)
		}
		return true
	})
	return out
}

func stringList(e ast.Expr, consts map[string]string) []string {
	lit, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	if at, ok := lit.Type.(*ast.ArrayType); !ok || fmt.Sprint(at.Elt) != "string" {
		return nil
	}
	out := []string{}
	for _, el := range lit.Elts {
		if s, ok := stringValue(el, consts); ok {
			out = append(out, s)
		}
	}
	return out
}

// stringConsts collects a package's string constants.
func stringConsts(files []*ast.File) map[string]string {
	out := map[string]string{}
	for range 2 { // twice, so constants defined from constants declared later resolve
		for _, f := range files {
			for _, d := range f.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							if s, ok := stringValue(vs.Values[i], out); ok {
								out[n.Name] = s
							}
						}
					}
				}
			}
		}
	}
	return out
}

// RuntimeMetrics are the Go runtime and process metrics every process registers
// (infra.Open registers collectors.NewGoCollector and NewProcessCollector), gathered from the
// real collectors on this machine.
func RuntimeMetrics() (map[string]Metric, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]Metric{}
	for _, mf := range mfs {
		m := Metric{Name: mf.GetName(), Kind: strings.ToLower(mf.GetType().String()), Where: "client_golang collectors"}
		if len(mf.GetMetric()) > 0 {
			for _, l := range mf.GetMetric()[0].GetLabel() {
				m.Labels = append(m.Labels, l.GetName())
			}
		}
		out[m.Name] = m
	}
	return out, nil
}

// AllMetrics are the code's metrics and the runtime ones.
func AllMetrics(servicesDir string) (map[string]Metric, error) {
	code, err := CodeMetrics(servicesDir)
	if err != nil {
		return nil, err
	}
	rt, err := RuntimeMetrics()
	if err != nil {
		return nil, err
	}
	for k, v := range rt {
		code[k] = v
	}
	return code, nil
}
