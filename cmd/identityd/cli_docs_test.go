package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

// TestCLIReference: docs/cli.md is what the commands say of themselves
// (IDENTITY_UPDATE_CLI_DOCS=1 rewrites it), and every command has a
// description, an example and a described flag.
func TestCLIReference(t *testing.T) {
	t.Parallel()
	c := &cli{ctx: t.Context(), getenv: func(string) string { return "" }}
	root := c.rootCommand()
	var buf bytes.Buffer
	writeReference(&buf, root)
	path := filepath.Join("..", "..", "docs", "cli.md")
	if os.Getenv("IDENTITY_UPDATE_CLI_DOCS") == "1" {
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	}
	have, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, buf.String(), string(have),
		"docs/cli.md is out of date: run IDENTITY_UPDATE_CLI_DOCS=1 go test -run TestCLIReference ./cmd/identityd/")

	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		for _, sub := range cmd.Commands() {
			if !sub.IsAvailableCommand() || sub.Name() == "help" {
				continue
			}
			if sub.Runnable() && !sub.HasAvailableSubCommands() || sub.Name() == "migrate" {
				require.NotEmpty(t, sub.Short, "%s has no description", sub.CommandPath())
				if !strings.HasPrefix(sub.CommandPath(), "identityd completion") {
					require.NotEmpty(t, sub.Example, "%s has no example", sub.CommandPath())
				}
			}
			sub.LocalFlags().VisitAll(func(f *pflagFlag) {
				require.NotEmpty(t, strings.TrimSpace(f.Usage), "%s --%s is not described", sub.CommandPath(), f.Name)
			})
			walk(sub)
		}
	}
	walk(root)
}

// TestCLICompletion: bash, zsh and fish completion scripts.
func TestCLICompletion(t *testing.T) {
	t.Parallel()
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, _, err := cliRun(t, map[string]string{}, "completion", shell)
		require.NoError(t, err, shell)
		require.Contains(t, out, "identityd", shell)
		require.Greater(t, len(out), 500, shell)
	}
	_, _, err := cliRun(t, map[string]string{}, "completion", "tcsh")
	require.Error(t, err)
}
