// Command generate rebuilds the composites and labels.json of the object
// test set from recipe.json and src/:
//
//	go run ./internal/testimages/objects/generate
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/anonjob/anonjob/internal/testimages/objects"
)

func main() {
	dir := flag.String("dir", "internal/testimages/objects", "the set's folder")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "recipe.json"))
	if err != nil {
		return err
	}
	var r objects.Recipe
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("recipe: %w", err)
	}
	files, err := objects.Build(os.DirFS(dir), r)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), files[n], 0o644); err != nil {
			return err
		}
		fmt.Printf("%s %d bytes\n", n, len(files[n]))
	}
	return nil
}
