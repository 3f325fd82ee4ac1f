package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// writeReference writes the CLI reference (docs/cli.md) from the command
// tree itself: every command's use, description, example and flags.
// TestCLIReference keeps the file equal to it.
func writeReference(w io.Writer, root *cobra.Command) {
	fmt.Fprint(w, `# identityd command line

<!-- Generated from the commands by TestCLIReference (cmd/identityd); do not edit.
     Regenerate: IDENTITY_UPDATE_CLI_DOCS=1 go test -run TestCLIReference ./cmd/identityd/ -->

`)
	fmt.Fprintln(w, root.Long)
	fmt.Fprint(w, `
## Exit status

| Status | Meaning |
|---|---|
| 0 | success |
| 1 | an error: the API refused (validation, permission), a dependency is down, the server could not be reached |
| 2 | a usage error: an unknown command or flag, a missing argument or flag, a bad value |
| 3 | not found (the API answered 404, or the --tenant slug does not exist) |
| 4 | conflict (the API answered 409: the object exists already, or its state forbids the change) |

## Environment

| Variable | Meaning |
|---|---|
| IDENTITY_ENDPOINT | the server's URL for the admin and protocol commands (the same as --endpoint) |
| IDENTITY_TOKEN | the bearer token for IDENTITY_ENDPOINT: an administrator's access token or an API key |
| IDENTITY_CLIENT_SECRET | the client secret of perform, introspect and revoke when no --client-secret(-file) is given |

Without an endpoint, the commands read the server's own configuration (DATABASE_URL,
IDENTITY_DATA_DIR, IDENTITY_SECRET…; see the README) and act on its database.

## Global flags

`)
	fmt.Fprintf(w, "```\n%s```\n\n## Commands\n", root.PersistentFlags().FlagUsages())
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if !sub.IsAvailableCommand() || sub.Name() == "help" {
				continue
			}
			writeCommand(w, sub)
			walk(sub)
		}
	}
	walk(root)
}

func writeCommand(w io.Writer, c *cobra.Command) {
	fmt.Fprintf(w, "\n### %s\n\n%s.\n", c.CommandPath(), strings.TrimSuffix(c.Short, "."))
	if c.Long != "" {
		fmt.Fprintf(w, "\n%s\n", c.Long)
	}
	if c.Runnable() {
		fmt.Fprintf(w, "\n```\n%s\n```\n", c.UseLine())
	}
	if c.Example != "" {
		fmt.Fprintf(w, "\nExample:\n\n```sh\n%s\n```\n", strings.TrimRight(c.Example, "\n"))
	}
	if f := c.NonInheritedFlags(); f.HasAvailableFlags() {
		fmt.Fprintf(w, "\nFlags:\n\n```\n%s```\n", f.FlagUsages())
	}
}
