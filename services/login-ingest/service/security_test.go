package service

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
)

// TestTokensAreComparedInConstantTime reads the code that matches a bearer token to its site:
// it must compare with crypto/subtle and never with == on anything but the comparison's result,
// so an answer's timing says nothing about how close a guessed token was.
func TestTokensAreComparedInConstantTime(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "ingest.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var fn *ast.FuncDecl
	for _, d := range f.Decls {
		if d, ok := d.(*ast.FuncDecl); ok && d.Name.Name == "siteForToken" {
			fn = d
		}
	}
	if fn == nil {
		t.Fatal("siteForToken is gone from ingest.go: the intake's token check moved; point this test at it")
	}
	constantTime := false
	ast.Inspect(fn, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && (x.Name == "subtle" && n.Sel.Name == "ConstantTimeCompare" || x.Name == "hmac" && n.Sel.Name == "Equal") {
				constantTime = true
			}
			if x, ok := n.X.(*ast.Ident); ok && x.Name == "bytes" && n.Sel.Name == "Equal" {
				t.Errorf("%s: bytes.Equal returns at the first difference", fset.Position(n.Pos()))
			}
		case *ast.BinaryExpr:
			_, leftLit := n.X.(*ast.BasicLit)
			_, rightLit := n.Y.(*ast.BasicLit)
			if (n.Op == token.EQL || n.Op == token.NEQ) && !leftLit && !rightLit {
				t.Errorf("%s: == between two values in the token check", fset.Position(n.Pos()))
			}
		}
		return true
	})
	if !constantTime {
		t.Error("siteForToken does not use subtle.ConstantTimeCompare or hmac.Equal")
	}
}
