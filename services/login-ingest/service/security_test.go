package service

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
)

// TestTokensAreComparedInConstantTime reads the code that matches a bearer token to its site:
// it must compare with crypto/subtle and never with == on anything but the comparison's result,
// and go through every token without leaving the loop or branching in it, so an answer's timing
// says nothing about how close a guessed token was or which token it was.
func TestTokensAreComparedInConstantTime(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "tokens.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var fn *ast.FuncDecl
	for _, d := range f.Decls {
		if d, ok := d.(*ast.FuncDecl); ok && d.Name.Name == "match" {
			fn = d
		}
	}
	if fn == nil {
		t.Fatal("tokenSet.match is gone from tokens.go: the intake's token check moved; point this test at it")
	}
	constantTime := false
	ast.Inspect(fn, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.RangeStmt, *ast.ForStmt:
			// Leaving the loop at a match would make a token's position in the list, and so
			// its site, show in the timing.
			ast.Inspect(n, func(m ast.Node) bool {
				switch m := m.(type) {
				case *ast.ReturnStmt:
					t.Errorf("%s: return inside the token loop", fset.Position(m.Pos()))
				case *ast.BranchStmt:
					t.Errorf("%s: %s inside the token loop", fset.Position(m.Pos()), m.Tok)
				case *ast.IfStmt:
					t.Errorf("%s: a branch inside the token loop", fset.Position(m.Pos()))
				}
				return true
			})
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
		t.Error("tokenSet.match does not use subtle.ConstantTimeCompare or hmac.Equal")
	}
}
