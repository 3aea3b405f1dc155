package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBashCompletion runs the generated script in bash and asks it what it would complete.
func TestBashCompletion(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	code, script, errOut := runCLI(context.Background(), "127.0.0.1:1 k", "completion", "bash")
	if code != 0 {
		t.Fatalf("completion bash: %d %s", code, errOut)
	}
	path := filepath.Join(t.TempDir(), "anonjob.bash")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		line string // the words typed, the last one being completed
		want []string
		not  []string
	}{
		{"anonjob su", []string{"submit"}, []string{"get"}},
		{"anonjob ", []string{"submit", "watch", "completion", "webhook-secret"}, nil},
		{"anonjob submit --con", []string{"--concurrency"}, []string{"--since"}},
		{"anonjob --addr localhost:9090 submit --fi", []string{"--files"}, nil},
		{"anonjob submit --method ", []string{"blur", "pixelate", "blacken", "detect"}, nil},
		{"anonjob watch --status d", []string{"done"}, []string{"queued"}},
		{"anonjob webhook-secret ", []string{"rotate"}, nil},
		{"anonjob fetch --a", []string{"--all", "--addr", "--api-key"}, nil},
	} {
		words := strings.Split(tc.line, " ")
		cmd := exec.CommandContext(context.Background(), bash, "--norc", "-c",
			`source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($#-1)); _anonjob; printf '%s\n' "${COMPREPLY[@]}"`,
			"bash", path)
		cmd.Args = append(cmd.Args, words...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v %s", tc.line, err, out)
		}
		got := " " + strings.Join(strings.Fields(string(out)), " ") + " "
		for _, w := range tc.want {
			if !strings.Contains(got, " "+w+" ") {
				t.Errorf("%q: %q lacks %s", tc.line, got, w)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(got, " "+w+" ") {
				t.Errorf("%q: %q has %s", tc.line, got, w)
			}
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ shell, want string }{
		{"zsh", "bashcompinit"},
		{"fish", "complete -c anonjob -n '__fish_seen_subcommand_from submit' -l concurrency -r"},
	} {
		code, out, errOut := runCLI(context.Background(), "127.0.0.1:1 k", "completion", tc.shell)
		if code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: %d %q\n%s", tc.shell, code, errOut, out)
		}
	}
	if code, _, _ := runCLI(context.Background(), "127.0.0.1:1 k", "completion", "tcsh"); code != 2 {
		t.Errorf("an unknown shell is a usage error, got %d", code)
	}
}
