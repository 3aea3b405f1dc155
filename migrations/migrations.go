// Package migrations holds the database schema as ordered SQL files, embedded in the binary and
// applied at start.
package migrations

import "embed"

// FS holds the migration files, named NNNNN_description.sql in goose's format.
//
//go:embed *.sql
var FS embed.FS
