// Command tiercel is the Tiercel gateway: `serve` runs it, `token` mints a
// token it accepts, `validate` checks a config file.
//
// This file only dispatches; flags, config loading and signals live beside
// it. The components are built by the gateway (gateway/assemble.go), which
// rebuilds them on a reload. No logic of the gateway belongs here.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/tiercel/tiercel/internal/buildinfo"
)

const usage = `usage: tiercel <command> [flags]

commands:
  serve     run the gateway (no -config: the embedded demo on :8080, admin :8081)
  token     print a JWT the gateway accepts (demo key, or an issuer of -config)
  validate  check a config file: exit 0, or print file: field: reason
  invalidate publish an invalidation event to Kafka, or post it to a gateway's admin listener
  version   print the version, commit and Go version (also -version)

Run 'tiercel <command> -h' for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "token":
		return token(args[1:], stdout, stderr)
	case "validate":
		return validate(args[1:], stdout, stderr)
	case "invalidate":
		return invalidate(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, buildinfo.Get())
		return 0
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tiercel: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
