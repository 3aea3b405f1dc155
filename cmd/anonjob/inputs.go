package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// input is one image of a batch: where it is, and its name below the folder (or glob root)
// it was found in, which its results are saved under.
type input struct {
	path string
	rel  string
}

// expandInputs turns the arguments of submit into images: files as given, folders searched
// recursively for JPEG and PNG files (by content, not by name), and globs.
func expandInputs(args []string) ([]input, error) {
	var out []input
	seen := map[string]bool{}
	add := func(path, root string) {
		abs, err := filepath.Abs(path)
		if err != nil || seen[abs] {
			return
		}
		seen[abs] = true
		rel, err := filepath.Rel(root, path)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = filepath.Base(path)
		}
		out = append(out, input{path: path, rel: rel})
	}
	for _, arg := range args {
		info, err := os.Stat(arg)
		switch {
		case err == nil && info.IsDir():
			found, err := imagesIn(arg)
			if err != nil {
				return nil, err
			}
			if len(found) == 0 {
				return nil, fmt.Errorf("%s: no JPEG or PNG images in this folder", arg)
			}
			for _, p := range found {
				add(p, arg)
			}
		case err == nil:
			add(arg, filepath.Dir(arg))
		case hasMeta(arg):
			matches, err := filepath.Glob(arg)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", arg, err)
			}
			root := globRoot(arg)
			n := 0
			for _, m := range matches {
				if st, err := os.Stat(m); err == nil && !st.IsDir() {
					add(m, root)
					n++
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("%s: matches no files", arg)
			}
		default:
			return nil, fmt.Errorf("%s: %w", arg, err)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no images given")
	}
	return out, nil
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// globRoot is the folder part of a pattern before its first wildcard.
func globRoot(pattern string) string {
	dir := filepath.Dir(pattern)
	for hasMeta(dir) {
		dir = filepath.Dir(dir)
	}
	return dir
}

// imagesIn lists the JPEG and PNG files below dir, sorted, judged by their first bytes.
func imagesIn(dir string) ([]string, error) {
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		ct, err := sniff(p)
		if err != nil {
			return err
		}
		if ct == "image/jpeg" || ct == "image/png" {
			found = append(found, p)
		}
		return nil
	})
	slices.Sort(found)
	return found, err
}

func sniff(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && n == 0 && !errors.Is(err, io.EOF) {
		return "", err
	}
	return http.DetectContentType(head[:n]), nil
}
