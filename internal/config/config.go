// Package config loads a service's settings in one place: each setting is a
// flag (--kafka-brokers) whose value may also come from the environment
// (RECON_KAFKA_BROKERS) or from a YAML file given with --config (key
// kafka-brokers or kafka_brokers). Precedence: flag, environment, file,
// default. Secrets are best passed as *-file settings pointing at mounted
// files, never logged.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvPrefix prefixes every environment variable.
const EnvPrefix = "RECON_"

// Loader collects a service's settings.
type Loader struct {
	fs         *flag.FlagSet
	configFile string
	print      bool
	printOut   io.Writer
}

// ErrPrinted is what Parse returns after --print-config printed the
// settings: the command stops there, successfully.
var ErrPrinted = errors.New("settings printed")

// New returns a Loader for the named command.
func New(name string) *Loader {
	l := &Loader{fs: flag.NewFlagSet(name, flag.ContinueOnError), printOut: os.Stdout}
	l.fs.StringVar(&l.configFile, "config", os.Getenv(EnvPrefix+"CONFIG"), "YAML file of settings (keys are the flag names) [RECON_CONFIG]")
	l.fs.BoolVar(&l.print, "print-config", false, "print every setting as it resolves (flags, environment, file, defaults), secrets redacted, and exit")
	return l
}

// SetPrintOutput sets where --print-config prints (default stdout).
func (l *Loader) SetPrintOutput(w io.Writer) { l.printOut = w }

// FlagSet exposes the flags (for usage output).
func (l *Loader) FlagSet() *flag.FlagSet { return l.fs }

// EnvName returns the environment variable of a setting.
func EnvName(name string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func (l *Loader) usage(name, usage string) string {
	return fmt.Sprintf("%s [%s]", usage, EnvName(name))
}

// String declares a string setting.
func (l *Loader) String(p *string, name, def, usage string) {
	l.fs.StringVar(p, name, def, l.usage(name, usage))
}

// Int declares an int setting.
func (l *Loader) Int(p *int, name string, def int, usage string) {
	l.fs.IntVar(p, name, def, l.usage(name, usage))
}

// Float declares a float setting (a share, never money).
func (l *Loader) Float(p *float64, name string, def float64, usage string) {
	l.fs.Float64Var(p, name, def, l.usage(name, usage))
}

// Int32 declares an int32 setting.
func (l *Loader) Int32(p *int32, name string, def int32, usage string) {
	*p = def
	l.fs.Var(funcValue{func(s string) error {
		n, err := strconv.ParseInt(s, 10, 32)
		*p = int32(n)
		return err
	}, func() string { return strconv.Itoa(int(*p)) }}, name, l.usage(name, usage))
}

// Int16 declares an int16 setting.
func (l *Loader) Int16(p *int16, name string, def int16, usage string) {
	*p = def
	l.fs.Var(funcValue{func(s string) error {
		n, err := strconv.ParseInt(s, 10, 16)
		*p = int16(n)
		return err
	}, func() string { return strconv.Itoa(int(*p)) }}, name, l.usage(name, usage))
}

// MiB declares a size setting given in MiB and kept in bytes; *p (bytes)
// is the default.
func (l *Loader) MiB(p *int64, name, usage string) {
	l.fs.Var(funcValue{func(s string) error {
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil && (n < 0 || n > 1<<43) {
			err = fmt.Errorf("%d MiB is out of range", n)
		}
		*p = n << 20
		return err
	}, func() string { return strconv.FormatInt(*p>>20, 10) }}, name, l.usage(name, usage))
}

// funcValue is a flag.Value of a setter and a printer (flag.Func's
// values print as empty, which --print-config cannot use).
type funcValue struct {
	set func(string) error
	get func() string
}

func (f funcValue) Set(s string) error { return f.set(s) }
func (f funcValue) String() string {
	if f.get == nil { // the zero value flag.isZeroValue makes
		return ""
	}
	return f.get()
}

// Bool declares a bool setting.
func (l *Loader) Bool(p *bool, name string, def bool, usage string) {
	l.fs.BoolVar(p, name, def, l.usage(name, usage))
}

// Duration declares a duration setting ("30s", "5m").
func (l *Loader) Duration(p *time.Duration, name string, def time.Duration, usage string) {
	l.fs.DurationVar(p, name, def, l.usage(name, usage))
}

// List declares a comma-separated list setting.
func (l *Loader) List(p *[]string, name string, def []string, usage string) {
	*p = def
	l.fs.Var(funcValue{func(s string) error {
		*p = splitList(s)
		return nil
	}, func() string { return strings.Join(*p, ",") }}, name, l.usage(name, usage+" (comma-separated)"))
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// Parse reads args, then fills every setting not given as a flag from the
// environment and then from the --config file. It returns the remaining
// positional arguments.
func (l *Loader) Parse(args []string) ([]string, error) {
	if err := l.fs.Parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	l.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	file := map[string]string{}
	if l.configFile != "" {
		var err error
		if file, err = readFile(l.configFile); err != nil {
			return nil, err
		}
	}
	var errs []error
	l.fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || f.Name == "config" {
			return
		}
		v, ok := os.LookupEnv(EnvName(f.Name))
		src := EnvName(f.Name)
		if !ok {
			v, ok = file[f.Name]
			src = l.configFile + ": " + f.Name
		}
		if !ok {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", src, err))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if l.print {
		l.Print(l.printOut)
		return nil, ErrPrinted
	}
	return l.fs.Args(), nil
}

func readFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		key := strings.ReplaceAll(k, "_", "-")
		switch t := v.(type) {
		case []any:
			parts := make([]string, len(t))
			for i, p := range t {
				parts[i] = fmt.Sprint(p)
			}
			out[key] = strings.Join(parts, ",")
		case nil:
		default:
			out[key] = fmt.Sprint(t)
		}
	}
	return out, nil
}

// Validator is a service's configuration as its New takes it.
type Validator interface{ Validate() error }

// Prepare checks a service's configuration (Validate, which reads
// nothing) and then, when it has one, runs its Load step (secret files,
// folders). Pass a pointer: Load fills the config.
func Prepare(c Validator) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if l, ok := c.(interface{ Load() error }); ok {
		return l.Load()
	}
	return nil
}
