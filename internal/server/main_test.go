package server_test

import (
	"testing"

	"github.com/anonjob/anonjob/internal/pgtest"
)

var harness *pgtest.Harness

func TestMain(m *testing.M) { pgtest.Main(m, &harness) }
