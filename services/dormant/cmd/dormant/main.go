// Command dormant runs every component of dormant in one process (`dormant serve`) and
// gives operators their tools. Configuration comes from the environment; see
// docs/configuration.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/dormant-dev/dormant/services/dormant"
	"github.com/dormant-dev/dormant/services/platform/buildinfo"
	"github.com/dormant-dev/dormant/services/platform/infra"
)

const usage = `dormant retires OpenMRS accounts that nobody uses, with warnings first.

Usage:
  dormant serve                 run the components of DORMANT_TARGET (default: all)
  dormant send-login [flags]    send a login event to a running intake (try it out)
  dormant replay --from-time T | --from-seq N [--site S]
                                replay the auth stream into the last-login store
  dormant reactivate [flags]    unretire a user, with who and why, and give a fresh grace period
  dormant whatif --site S [--at DATE] [--policy FILE]
                                preview who a tick would warn and retire, changing nothing
  dormant doctor [--site S] [--max-silence 24h]
                                check each site's OpenMRS connection, privileges, hook and
                                core's auto-retire task; exits non-zero when a check fails
  dormant audit --site S --from DAY [--to DAY] [--format csv|html|pdf] [--out FILE]
                                audit evidence of a period: policy versions, every account past
                                the inactivity threshold and the days to its retirement
  dormant backfill [--site S] [--dry-run]
                                import the last logins OpenMRS recorded (lastLoginTimestamp)
  dormant version               print the version
  dormant watch [--site S]      print dormant's events as they happen
  dormant healthcheck           exit 0 if the local process answers /healthz (for containers)

Configuration is read from the environment; see docs/configuration.md.
`

func main() {
	infra.Main("dormant", "127.0.0.1:8080", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Stdout, os.Stderr) })
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx)
	case "reactivate":
		return reactivate(ctx, args[1:], stdout)
	case "whatif":
		return whatIf(ctx, args[1:], stdout)
	case "doctor":
		return doctor(ctx, args[1:], stdout)
	case "audit":
		return auditCmd(ctx, args[1:], stdout)
	case "backfill":
		return backfillCmd(ctx, args[1:], stdout)
	case "send-login":
		return sendLogin(ctx, args[1:], stdout)
	case "watch":
		return watch(ctx, args[1:], stdout, stderr)
	case "replay":
		return replay(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, buildinfo.String())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func serve(ctx context.Context) error {
	cfg, err := dormant.ConfigFromEnv()
	if err != nil {
		return err
	}
	app, err := dormant.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	return app.Run(ctx)
}
