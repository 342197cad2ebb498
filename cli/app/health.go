package app

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

func init() { register(healthCommand) }

// healthCommand checks a running server's /health endpoint; the container
// image uses it as its HEALTHCHECK, as the image has no curl.
func healthCommand() *cli.Command {
	return &cli.Command{
		Name:  "health",
		Usage: "check that a running server answers GET /health (exit 0 when healthy)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "http://127.0.0.1:8080", Usage: "server base URL"},
			&cli.DurationFlag{Name: "timeout", Value: 3 * time.Second, Usage: "give up after this long"},
		},
		Action: func(c *cli.Context) error {
			base := c.String("addr")
			if !strings.Contains(base, "://") {
				base = "http://" + base
			}
			client := &http.Client{Timeout: c.Duration("timeout")}
			req, err := http.NewRequestWithContext(c.Context, http.MethodGet, strings.TrimRight(base, "/")+"/health", nil)
			if err != nil {
				return UsageErrorf("health: %v", err)
			}
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("health: %w", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("health: %s answered %d: %s", base, resp.StatusCode, strings.TrimSpace(string(body)))
			}
			_, err = fmt.Fprintln(c.App.Writer, strings.TrimSpace(string(body)))
			return err
		},
	}
}
