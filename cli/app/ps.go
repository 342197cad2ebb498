package app

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pensieve-llm/pensieve/cli/internal/progress"
	"github.com/pensieve-llm/pensieve/server"
)

func init() {
	register(psCommand)
	register(statusCommand)
	register(stopCommand)
}

// envAPIKey holds the API key the client commands send to a server that
// requires one.
const envAPIKey = "PENSIEVE_API_KEY"

// opsFlags are the flags of the commands that ask a running server.
func opsFlags(extra ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "addr", Value: "http://127.0.0.1:8080", Usage: "the server's `URL` (or HOST:PORT)"},
		&cli.StringFlag{Name: "api-key", EnvVars: []string{envAPIKey}, Usage: "API `KEY` for a server that requires one"},
		&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "give up after this `DURATION`"},
	}, extra...)
}

func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"}
}

func psCommand() *cli.Command {
	return &cli.Command{
		Name:  "ps",
		Usage: "list the models a running server has loaded",
		Description: "Asks a running `pensieve-cli serve` (GET /api/status) which models are in memory: their\n" +
			"   memory, context, requests running and queued, tokens per second, and when they unload.\n\n" +
			"   pensieve-cli ps --addr http://127.0.0.1:8080",
		Flags:        opsFlags(jsonFlag()),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			_, st, err := fetchStatus(c, "ps")
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeIndented(c.App.Writer, st.Models)
			}
			if len(st.Models) == 0 {
				_, err := fmt.Fprintf(c.App.Writer, "no model is loaded; %d configured: %s\n", len(st.Configured),
					strings.Join(st.Configured, ", "))
				return err
			}
			return writeModelTable(c.App.Writer, st.Models, time.Now())
		},
	}
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show what a running server is doing",
		Description: "Asks a running `pensieve-cli serve` (GET /api/status) for its version, uptime, memory,\n" +
			"   requests in flight and configured models, then lists the loaded ones as `ps` does.",
		Flags:        opsFlags(jsonFlag()),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			o, st, err := fetchStatus(c, "status")
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeIndented(c.App.Writer, st)
			}
			return writeStatus(c.App.Writer, baseURL(o.addr), st, time.Now())
		},
	}
}

func stopCommand() *cli.Command {
	return &cli.Command{
		Name:      "stop",
		Usage:     "unload a model from a running server",
		ArgsUsage: "MODEL",
		Description: "Asks a running `pensieve-cli serve` (POST /api/unload) to unload MODEL (an id or alias).\n" +
			"   A model that is answering requests unloads when they end. The next request that names\n" +
			"   the model loads it again.",
		Flags:        opsFlags(),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			o, args, err := opsOptionsOf(c)
			switch {
			case err != nil:
				return err
			case len(args) != 1:
				return UsageErrorf("stop: want one MODEL, got %d arguments", len(args))
			}
			body, err := json.Marshal(server.UnloadRequest{Model: args[0]})
			if err != nil {
				return err
			}
			var res server.UnloadResponse
			if err := o.call(c, http.MethodPost, "/api/unload", body, &res); err != nil {
				return err
			}
			msg := "unloaded " + res.Model
			if res.Pending {
				msg = res.Model + " unloads when its requests in flight end"
			}
			_, err = fmt.Fprintln(c.App.Writer, msg)
			return err
		},
	}
}

// baseURL accepts "host:port" as well as a URL.
func baseURL(addr string) string {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return strings.TrimRight(addr, "/")
}

// opsOptions are the settings of a command that asks a running server.
// fetchStatus checks that command (ps or status) got no arguments and asks
// the server for GET /api/status.
func fetchStatus(c *cli.Context, command string) (opsOptions, *server.Status, error) {
	o, args, err := opsOptionsOf(c)
	switch {
	case err != nil:
		return o, nil, err
	case len(args) != 0:
		return o, nil, UsageErrorf("%s: unexpected arguments %q", command, args)
	}
	var st server.Status
	if err := o.call(c, http.MethodGet, "/api/status", nil, &st); err != nil {
		return o, nil, err
	}
	return o, &st, nil
}

type opsOptions struct {
	cmd     string // the command's name, for messages
	addr    string
	apiKey  string
	timeout time.Duration
}

// opsOptionsOf reads the flags of c and returns the positional arguments.
// urfave/cli stops parsing flags at the first argument, so in
// `stop MODEL --addr URL` the flags after MODEL arrive as arguments; they
// are parsed here.
func opsOptionsOf(c *cli.Context) (opsOptions, []string, error) {
	o := opsOptions{cmd: c.Command.Name, addr: c.String("addr"), apiKey: c.String("api-key"), timeout: c.Duration("timeout")}
	args := c.Args().Slice()
	n := 0
	for n < len(args) && !strings.HasPrefix(args[n], "-") {
		n++
	}
	if n == len(args) {
		return o, args, nil
	}
	set := flag.NewFlagSet(o.cmd, flag.ContinueOnError)
	set.SetOutput(io.Discard)
	set.StringVar(&o.addr, "addr", o.addr, "")
	set.StringVar(&o.apiKey, "api-key", o.apiKey, "")
	set.DurationVar(&o.timeout, "timeout", o.timeout, "")
	if err := set.Parse(args[n:]); err != nil {
		return o, nil, UsageErrorf("%s: %v", o.cmd, err)
	}
	return o, append(args[:n:n], set.Args()...), nil
}

// call sends one request to the server at --addr (with --api-key) and
// decodes its JSON answer into out. A failure the server reports is
// returned with its message.
func (o opsOptions) call(c *cli.Context, method, path string, body []byte, out any) error {
	cmd, base := o.cmd, baseURL(o.addr)
	ctx, cancel := context.WithTimeout(c.Context, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return UsageErrorf("%s: --addr %q: %v", cmd, o.addr, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if o.apiKey != "" {
		req.Header.Set("x-api-key", o.apiKey)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: cannot reach the server at %s (is `pensieve-cli serve` running?): %w", cmd, base, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%s: reading the answer of %s: %w", cmd, base, err)
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", cmd, serverError(res.StatusCode, b))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: %s%s did not answer as a Pensieve server: %w", cmd, base, path, err)
	}
	return nil
}

// serverError words a failed answer: the Anthropic error envelope's
// message when there is one, with a hint for authentication failures.
func serverError(status int, body []byte) string {
	var env struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	msg := strings.TrimSpace(string(body))
	if err := json.Unmarshal(body, &env); err == nil && env.Error.Message != "" {
		msg = env.Error.Message
	}
	if status == http.StatusUnauthorized {
		msg += " (pass --api-key KEY or set " + envAPIKey + ")"
	}
	return fmt.Sprintf("the server answered %d: %s", status, msg)
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeModelTable prints the loaded models as ps does.
func writeModelTable(w io.Writer, models []server.ModelStatus, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tMEMORY\tCONTEXT\tACTIVE\tQUEUED\tTOKENS/S\tCACHE HITS\tUNLOADS")
	for _, m := range models {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.1f\t%.0f%%\t%s\n", m.ID, progress.Bytes(m.MemoryBytes), m.ContextLength,
			m.ActiveRequests, m.QueuedRequests, m.TokensPerSecond, 100*m.PrefixCacheHitRate, unloadsWhen(m, now))
	}
	return tw.Flush()
}

// unloadsWhen says when an idle model will be unloaded.
func unloadsWhen(m server.ModelStatus, now time.Time) string {
	switch {
	case !m.OnDemand || m.KeepAliveSeconds == 0:
		return "never"
	case m.ExpiresAt == nil:
		return "when idle"
	}
	d := m.ExpiresAt.Sub(now).Round(time.Second)
	if d <= 0 {
		return "now"
	}
	return "in " + d.String()
}

// writeStatus prints the server summary, then the loaded models.
func writeStatus(w io.Writer, addr string, st *server.Status, now time.Time) error {
	budget := "unlimited"
	if st.MemoryBudgetBytes > 0 {
		budget = progress.Bytes(st.MemoryBudgetBytes)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "server\t%s\n", addr)
	fmt.Fprintf(tw, "version\t%s\n", st.Version)
	fmt.Fprintf(tw, "uptime\t%s (since %s)\n", (time.Duration(st.UptimeSeconds) * time.Second).String(),
		st.StartedAt.Local().Format("2006-01-02 15:04:05"))
	fmt.Fprintf(tw, "memory\t%s of %s\n", progress.Bytes(st.MemoryUsedBytes), budget)
	fmt.Fprintf(tw, "requests\t%d in flight\n", max(st.InflightRequests-1, 0)) // not counting this one
	fmt.Fprintf(tw, "models\t%d loaded of %d configured: %s (default %s)\n", len(st.Models), len(st.Configured),
		strings.Join(st.Configured, ", "), st.Default)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.Models) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(w); err != nil {
		return err
	}
	return writeModelTable(w, st.Models, now)
}
