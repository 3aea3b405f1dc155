package pgnamed_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/anonjob/anonjob/internal/pgnamed"
)

// TestRewriteAsPgx: the statement and its arguments are exactly what pgx.StrictNamedArgs
// makes of them on every call.
func TestRewriteAsPgx(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sql  string
		args pgx.StrictNamedArgs
	}{
		{"plain", `SELECT * FROM jobs WHERE id = @id AND customer = @customer`,
			pgx.StrictNamedArgs{"id": "j1", "customer": "c"}},
		{"repeated, in order of first use", `SELECT @b, @a, @b, @a_1`,
			pgx.StrictNamedArgs{"a": 1, "b": 2, "a_1": 3}},
		{"casts", `SELECT @if_file_id::text IS NULL OR x = @if_file_id::text, now() + @lease::interval`,
			pgx.StrictNamedArgs{"if_file_id": nil, "lease": "15s"}},
		{"not in quotes, comments or dollar quotes",
			"SELECT 'mail@example.com', \"col@x\", $$ @no $$, $t$ @no $t$, @yes -- @no\n/* @no /* @no */ */ + @yes2",
			pgx.StrictNamedArgs{"yes": 1, "yes2": 2}},
		{"an @ that starts no name", `SELECT @1, @ x, @@y, @_z`, pgx.StrictNamedArgs{"y": 1, "_z": 2}},
		{"no arguments", `SELECT 1`, pgx.StrictNamedArgs{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantSQL, wantArgs, err := tc.args.RewriteQuery(context.Background(), nil, tc.sql, nil)
			if err != nil {
				t.Fatalf("pgx: %v", err)
			}
			s := pgnamed.MustRewrite(tc.sql)
			got, err := s.Args(tc.args)
			if err != nil {
				t.Fatalf("Args: %v", err)
			}
			if s.SQL() != wantSQL || !reflect.DeepEqual(got, wantArgs) {
				t.Errorf("rewrote to %q %v, pgx to %q %v", s.SQL(), got, wantSQL, wantArgs)
			}
		})
	}
}

// TestArgsStrict: a missing or an extra argument is refused, naming it, as pgx refuses it.
func TestArgsStrict(t *testing.T) {
	t.Parallel()
	s := pgnamed.MustRewrite(`UPDATE jobs SET status = @to WHERE id = @id`)
	for _, tc := range []struct {
		name string
		args map[string]any
		want string
	}{
		{"missing", map[string]any{"to": "DONE"}, "argument id found in sql query but not given"},
		{"extra", map[string]any{"to": "DONE", "id": "j1", "idd": "j1"}, "argument idd given but not found in sql query"},
		{"missing and extra", map[string]any{"to": "DONE", "idd": "j1"}, "argument id found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := s.Args(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Args(%v) = %v, want an error with %q", tc.args, err, tc.want)
			}
		})
	}
}
