package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pensieve-llm/pensieve/cli/internal/hub"
	"github.com/pensieve-llm/pensieve/cli/internal/progress"
	"github.com/pensieve-llm/pensieve/core"
)

func init() {
	registerModels(modelsListCommand)
	registerModels(modelsRmCommand)
}

// modelFile is one entry of `models list --json`.
type modelFile struct {
	Name     string    `json:"name"`
	Path     string    `json:"path"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	// Partial marks an interrupted download; `models pull` resumes it.
	Partial bool `json:"partial"`
}

func modelsListCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the files in the models directory",
		Flags: append(globalFlags(),
			modelsDirFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print a JSON array"},
		),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return UsageErrorf("models list: unexpected arguments %q", c.Args().Slice())
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			files, err := listModelFiles(cfg.ModelsDir)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(files)
			}
			if len(files) == 0 {
				_, err := fmt.Fprintf(c.App.Writer, "no models in %s; get one with: pensieve-cli models pull ORG/REPO/FILE.gguf\n", cfg.ModelsDir)
				return err
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSIZE\tMODIFIED")
			for _, f := range files {
				name := f.Name
				if f.Partial {
					name += "  (interrupted download)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", name, progress.Bytes(f.Size), f.Modified.Local().Format("2006-01-02 15:04"))
			}
			return tw.Flush()
		},
	}
}

// listModelFiles lists the regular files of dir (symbolic links to files
// included), sorted by name; hidden files are skipped. A missing directory
// holds no models.
func listModelFiles(dir string) ([]modelFile, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []modelFile{}, nil
	} else if err != nil {
		return nil, fmt.Errorf("models list: %w", err)
	}
	files := []modelFile{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		st, err := os.Stat(path) // follows symbolic links
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		files = append(files, modelFile{
			Name: e.Name(), Path: path, Size: st.Size(), Modified: st.ModTime().UTC(),
			Partial: strings.HasSuffix(e.Name(), hub.PartialSuffix),
		})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

func modelsRmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove model files from the models directory",
		ArgsUsage: "NAME...",
		Description: "NAME is a file name as `models list` shows it, or the name without its\n" +
			"extension when that matches exactly one file.",
		Flags:        append(globalFlags(), modelsDirFlag()),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return UsageErrorf("models rm: want at least one NAME")
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			for _, name := range c.Args().Slice() {
				path, err := resolveModelFile(cfg.ModelsDir, name)
				if err != nil {
					return err
				}
				if err := os.Remove(path); err != nil {
					return fmt.Errorf("models rm: %w", err)
				}
				if _, err := fmt.Fprintf(c.App.Writer, "removed %s\n", path); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// resolveModelFile finds the file NAME refers to in dir: the file of that
// name, else the one file whose name without extension is NAME.
func resolveModelFile(dir, name string) (string, error) {
	const op = "models rm"
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return "", UsageErrorf("%s: %q: want a file name from `models list`, not a path", op, name)
	}
	files, err := listModelFiles(dir)
	if err != nil {
		return "", err
	}
	var stem []string
	for _, f := range files {
		if f.Name == name {
			return f.Path, nil
		}
		if strings.TrimSuffix(f.Name, filepath.Ext(f.Name)) == name {
			stem = append(stem, f.Path)
		}
	}
	switch len(stem) {
	case 1:
		return stem[0], nil
	case 0:
		return "", core.Errorf(core.KindNotFound, op, "%q: no such file in %s", name, dir)
	}
	return "", core.Errorf(core.KindInvalid, op, "%q matches %d files in %s; give the full name", name, len(stem), dir)
}
