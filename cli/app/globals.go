package app

import (
	"io"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/pensieve-llm/pensieve/config"
)

// Global flags. They are accepted both before the command
// (`pensieve-cli --config F serve`) and after it (`pensieve-cli serve
// --config F`); the one nearest the command wins.
const (
	flagConfig    = "config"
	flagProfile   = "profile"
	flagLogLevel  = "log-level"
	flagLogFormat = "log-format"
)

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"console", "json"}
)

// globalFlags returns the application-wide flags: --config, --profile,
// --log-level and --log-format.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagConfig, Aliases: []string{"c"}, Usage: "configuration `FILE` (.toml, .yaml, .json; default $PENSIEVE_CONFIG or ~/.config/pensieve/config.toml)"},
		&cli.StringFlag{Name: flagProfile, Usage: "apply the [profiles.`NAME`] section of the configuration"},
		&cli.StringFlag{Name: flagLogLevel, Usage: "log `LEVEL`: " + strings.Join(logLevels, ", ")},
		&cli.StringFlag{Name: flagLogFormat, Usage: "log `FORMAT`: " + strings.Join(logFormats, ", ")},
	}
}

// checkGlobalFlags is the App's Before hook: it rejects bad --log-level and
// --log-format values with a usage error before any command runs.
func checkGlobalFlags(c *cli.Context) error {
	return checkLogFlags(c)
}

func checkLogFlags(c *cli.Context) error {
	if v, ok := lookupString(c, flagLogLevel); ok && !slices.Contains(logLevels, v) {
		return UsageErrorf("--%s %q: want one of %s", flagLogLevel, v, strings.Join(logLevels, ", "))
	}
	if v, ok := lookupString(c, flagLogFormat); ok && !slices.Contains(logFormats, v) {
		return UsageErrorf("--%s %q: want one of %s", flagLogFormat, v, strings.Join(logFormats, ", "))
	}
	return nil
}

// onUsageError turns a flag parsing error into a usage error (exit 2).
func onUsageError(_ *cli.Context, err error, _ bool) error {
	return UsageErrorf("%v", err)
}

// setIn returns the nearest context in c's lineage where flag name was set on
// the command line, or nil.
func setIn(c *cli.Context, name string) *cli.Context {
	for _, cc := range c.Lineage() {
		if cc.IsSet(name) {
			return cc
		}
	}
	return nil
}

// lookupString returns the value of a string flag set anywhere in c's lineage.
func lookupString(c *cli.Context, name string) (string, bool) {
	if cc := setIn(c, name); cc != nil {
		return cc.String(name), true
	}
	return "", false
}

// configKeyFlag binds a command-line flag to a configuration key.
type configKeyFlag struct {
	flag, key string
	value     func(c *cli.Context, name string) any
}

func stringValue(c *cli.Context, name string) any { return c.String(name) }
func intValue(c *cli.Context, name string) any    { return c.Int(name) }
func listValue(c *cli.Context, name string) any   { return c.StringSlice(name) }
func durationValue(c *cli.Context, name string) any {
	return c.Duration(name).String()
}

// modelsValue turns repeated --model FILE flags into the models list.
func modelsValue(c *cli.Context, name string) any {
	var out []any
	for _, p := range c.StringSlice(name) {
		out = append(out, map[string]any{"path": p})
	}
	return out
}

// configKeyFlags lists every flag that overrides a configuration key. A
// command declares the flags it accepts; loadConfig reads those that were
// set.
var configKeyFlags = []configKeyFlag{
	{"addr", "server.addr", stringValue},
	{"api-key", "server.api_keys", listValue},
	{"model", "models", modelsValue},
	{"models-dir", "models_dir", stringValue},
	{"device", "device", stringValue},
	{"threads", "engine.threads", intValue},
	{"slots", "engine.slots", intValue},
	{"context", "engine.context", intValue},
	{"keep-alive", "server.keep_alive", durationValue},
	{"memory-budget", "server.memory_budget", stringValue},
	{"hf-endpoint", "hub.endpoint", stringValue},
	{flagLogLevel, "log.level", stringValue},
	{flagLogFormat, "log.format", stringValue},
}

// serverFlags returns the flags `serve` accepts that override the
// configuration; `config show` accepts the same ones so that their effect
// can be seen.
func serverFlags() []cli.Flag {
	return append(globalFlags(),
		&cli.StringFlag{Name: "addr", Usage: "listen on `HOST:PORT` (server.addr, default " + config.DefaultAddr + ")"},
		&cli.StringSliceFlag{Name: "api-key", Usage: "accept this client `KEY`; repeat for more (server.api_keys)"},
		&cli.StringSliceFlag{Name: "model", Usage: "serve the model `FILE`; repeat for more (replaces the configured models)"},
		modelsDirFlag(),
		&cli.StringFlag{Name: "device", Usage: "compute `DEVICE`: auto, cpu or metal (device)"},
		&cli.IntFlag{Name: "threads", Usage: "CPU threads, 0 for one per core (engine.threads)"},
		&cli.IntFlag{Name: "slots", Usage: "sequences decoded together (engine.slots)"},
		&cli.IntFlag{Name: "context", Usage: "context window per slot in tokens, 0 for the model's own (engine.context)"},
		&cli.DurationFlag{Name: "keep-alive", Usage: "unload a model idle this `DURATION`, 0 to keep models loaded (server.keep_alive)"},
		&cli.StringFlag{Name: "memory-budget", Usage: "memory `SIZE` for the loaded models, e.g. 24GiB; 0 for 3/4 of RAM (server.memory_budget)"},
	)
}

func modelsDirFlag() cli.Flag {
	return &cli.StringFlag{Name: "models-dir", Usage: "model files `DIR` (models_dir, default " + config.DefaultModelsDir + ")"}
}

// configOptions gathers where the configuration comes from: --config,
// --profile, the process environment and the flags that were set. A
// Watcher started for `serve` needs the same Options.
func configOptions(c *cli.Context) config.Options {
	opts := config.Options{Environ: os.Environ(), Flags: map[string]any{}}
	opts.File, _ = lookupString(c, flagConfig)
	opts.Profile, _ = lookupString(c, flagProfile)
	for _, f := range configKeyFlags {
		if cc := setIn(c, f.flag); cc != nil {
			opts.Flags[f.key] = f.value(cc, f.flag)
		}
	}
	return opts
}

// loadConfig loads the effective configuration for a command. Any problem
// with it (a missing or malformed file, an invalid value) is a usage error:
// pensieve-cli exits with status 2.
func loadConfig(c *cli.Context) (config.Config, error) {
	if err := checkLogFlags(c); err != nil {
		return config.Config{}, err
	}
	cfg, err := config.Load(configOptions(c))
	if err != nil {
		return config.Config{}, UsageErrorf("%w", err)
	}
	return cfg, nil
}

// newLogger builds the process logger from the log settings, writing to w
// (the App's ErrWriter). The returned level can be changed while running,
// e.g. when a Watcher applies a new log.level.
func newLogger(l config.Log, w io.Writer) (*zap.Logger, zap.AtomicLevel, error) {
	level, err := zap.ParseAtomicLevel(l.Level)
	if err != nil {
		return nil, zap.AtomicLevel{}, UsageErrorf("log.level: %v", err)
	}
	var enc zapcore.Encoder
	switch l.Format {
	case "json":
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	case "console", "":
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		ec.CallerKey, ec.StacktraceKey = "", ""
		enc = zapcore.NewConsoleEncoder(ec)
	default:
		return nil, zap.AtomicLevel{}, UsageErrorf("log.format: want one of %s, got %q", strings.Join(logFormats, ", "), l.Format)
	}
	zc := zapcore.NewCore(enc, zapcore.AddSync(w), level)
	return zap.New(zc, zap.ErrorOutput(zapcore.AddSync(w))), level, nil
}

// watchConfig starts hot reload for a running server: when the
// configuration file (or a *_file secret) changes, the new log level is
// applied to level, and apply (if not nil) receives the configuration now in
// effect so the server can take the new API keys, rate limits and aliases.
// Changes that need a restart are logged as ignored. The caller closes the
// Watcher. opts may set the polling interval.
func watchConfig(c *cli.Context, cfg config.Config, log *zap.Logger, level zap.AtomicLevel, apply func(config.Config), opts ...config.WatchOption) *config.Watcher {
	return config.Watch(configOptions(c), cfg, func(r config.Reload) {
		if r.Err != nil || len(r.Applied) == 0 {
			return // the Watcher has logged it
		}
		if l, err := zapcore.ParseLevel(r.Config.Log.Level); err == nil {
			level.SetLevel(l)
		}
		if apply != nil {
			apply(r.Config)
		}
	}, append([]config.WatchOption{config.WithLogger(log)}, opts...)...)
}
