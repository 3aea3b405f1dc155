// Package pgnamed rewrites a statement written with pgx's named arguments (@name) into
// PostgreSQL's positional form ($1, $2, ...) once, when the program starts. pgx.StrictNamedArgs
// does the same on every execution, lexing the whole statement each time: for the long
// statements every job runs, that was a tenth of the server's CPU under load.
package pgnamed

import (
	"context"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
)

// Statement is a statement in positional form with the names of its arguments in order.
type Statement struct {
	sql   string
	names []string // names[i] is $(i+1)
}

// candidate matches every name pgx would read after an '@', and more (inside quotes and
// comments too): the names given to pgx's own rewrite below, which takes only those it reads.
var candidate = regexp.MustCompile(`@([A-Za-z_][A-Za-z0-9_]*)`)

// MustRewrite rewrites named with pgx's own lexer, so that quotes, comments, casts (::) and
// dollar quotes are read exactly as pgx.StrictNamedArgs reads them. It panics if that fails,
// which is a programming error met at start.
func MustRewrite(named string) Statement {
	// Each name is its own value, so that the rewritten arguments are the names in order.
	names := pgx.NamedArgs{}
	for _, m := range candidate.FindAllStringSubmatch(named, -1) {
		names[m[1]] = m[1]
	}
	sql, ordered, err := names.RewriteQuery(context.Background(), nil, named, nil)
	if err != nil {
		panic(fmt.Sprintf("pgnamed: rewrite %q: %v", named, err))
	}
	s := Statement{sql: sql, names: make([]string, len(ordered))}
	for i, a := range ordered {
		name, ok := a.(string)
		if !ok {
			panic(fmt.Sprintf("pgnamed: argument $%d of %q has no name", i+1, named))
		}
		s.names[i] = name
	}
	return s
}

// SQL is the statement in positional form, for use with the arguments Args orders.
func (s Statement) SQL() string { return s.sql }

// Args orders args for SQL, as strictly as pgx.StrictNamedArgs: every name the statement uses
// must be given, and nothing else.
func (s Statement) Args(args map[string]any) ([]any, error) {
	out := make([]any, len(s.names))
	for i, name := range s.names {
		v, ok := args[name]
		if !ok {
			return nil, fmt.Errorf("argument %s found in sql query but not given", name)
		}
		out[i] = v
	}
	if len(args) != len(s.names) {
		used := make(map[string]bool, len(s.names))
		for _, name := range s.names {
			used[name] = true
		}
		for name := range args {
			if !used[name] {
				return nil, fmt.Errorf("argument %s given but not found in sql query", name)
			}
		}
	}
	return out, nil
}
