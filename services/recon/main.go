// Command recon is the one binary of the project: `recon <service>` runs one
// service, `recon up` runs all of them in one process on embedded defaults,
// and `recon parse` prints what the parsers read from statement files.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/openrecon/recon/internal/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"up", "run every service in one process on embedded defaults (in-process Kafka, local inbox)", runUp},
	{"reconcile", "reconcile files once: --bank FILE... --ledger FILE... --out DIR", runReconcile},
	{"export", "write a running system's matches, breaks and summary from its warehouse as reconcile does: --database-url URL --out DIR", runExport},
	{"replay", "re-decide a period of a running system's transaction topics with new rules on throwaway state and write what would change: --rules NEW.yaml --from DATE [--to DATE] --out DIR", runReplay},
	{"gen", "generate bank and ledger files with known matches (--noisy: a realistic day with truth.json)", runGen},
	{"bench", "measure throughput, latency, memory and CPU on real servers, beside a SQL baseline", runBench},
	{"score", "score a reconcile output against a generated truth (pair precision, recall, break recall)", runScore},
	{"ingestor", "run the ingestor service (file events and inbox -> transaction topics)", runIngestor},
	{"matcher", "run the matcher service (transaction topics + Redis windows -> matches, breaks)", runMatcher},
	{"loader", "run the loader service (matches, breaks -> warehouse)", runLoader},
	{"notifier", "run the notifier service (breaks -> webhook, log)", runNotifier},
	{"console", "run the console (break workflow pages and API behind OpenID Connect sign-in)", runConsole},
	{"audit", "verify the console's audit chain: audit verify --database-url URL", runAudit},
	{"parse", "print the statements and transactions of files as JSON lines", runParse},
	{"version", "print the version", func(_ context.Context, _ []string, stdout, _ io.Writer) error {
		_, err := fmt.Fprintln(stdout, "recon", version)
		return err
	}},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: recon <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEvery flag can also be set as RECON_<FLAG> in the environment or in a YAML file given with --config.\nrecon <command> -h lists a command's flags.")
}

func main() {
	// go-redis logs each failed dial itself; the services report what
	// failed, once, with what it means.
	redis.SetLogger(quiet{})
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// problemLines splits an error into one line per problem: errors.Join
// gives several lines, and an indented line (pgx lists each address it
// tried that way) continues the one before, repeated text dropped.
func problemLines(err error) []string {
	var out []string
	for _, l := range strings.Split(err.Error(), "\n") {
		t := strings.TrimSpace(l)
		switch {
		case t == "":
		case len(out) > 0 && (l[0] == ' ' || l[0] == '\t'):
			if !strings.HasSuffix(out[len(out)-1], t) {
				out[len(out)-1] += " " + t
			}
		default:
			out = append(out, t)
		}
	}
	return out
}

// errUsage marks a usage error (exit 2); other errors exit 1.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout, stderr)
			switch {
			case err == nil, errors.Is(err, flag.ErrHelp), errors.Is(err, config.ErrPrinted):
				return 0
			case errors.Is(err, errUsage):
				if err != errUsage { // a bare errUsage: the usage was printed
					fmt.Fprintf(stderr, "recon %s: %v\n", c.name, err)
				}
				return 2
			default:
				// One line per problem (errors.Join gives several), each
				// naming the command.
				for _, line := range problemLines(err) {
					fmt.Fprintf(stderr, "recon %s: %s\n", c.name, line)
				}
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "recon: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}
