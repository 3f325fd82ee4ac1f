package main

import "github.com/spf13/cobra"

// protocolCommands are the OAuth commands against a running server
// (perform, introspect, revoke).
func (c *cli) protocolCommands() []*cobra.Command { return nil }
