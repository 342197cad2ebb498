package app

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/gguf"
	"github.com/pensieve-llm/pensieve/model/tokenizer"
)

func init() { register(tokenizeCommand) }

func tokenizeCommand() *cli.Command {
	return &cli.Command{
		Name:  "tokenize",
		Usage: "tokenize the text on stdin with a model file's vocabulary and print the ids as a JSON array",
		Description: "The text is read verbatim (a trailing newline is part of it). No BOS is added and special-token\n" +
			"texts such as <|eot_id|> stay ordinary text unless --bos and --special ask otherwise.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "GGUF `FILE` whose tokenizer to use", Required: true},
			&cli.BoolFlag{Name: "bos", Usage: "prepend the vocabulary's BOS token"},
			&cli.BoolFlag{Name: "special", Usage: "turn special-token texts into their ids"},
			&cli.BoolFlag{Name: "json", Usage: "print the ids as a JSON array (the default output; accepted for symmetry with eval and run)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return UsageErrorf("tokenize: unexpected arguments %v; the text is read from stdin", c.Args().Slice())
			}
			ids, err := tokenizeFile(c.String("model"), c.App.Reader, c.Bool("bos"), c.Bool("special"))
			if err != nil {
				return err
			}
			return json.NewEncoder(c.App.Writer).Encode(ids)
		},
	}
}

// tokenizeFile loads the tokenizer of a GGUF file and tokenizes all of in.
func tokenizeFile(path string, in io.Reader, bos, special bool) ([]core.TokenID, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokenize: %w", err)
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		return nil, fmt.Errorf("tokenize: %s: %w", path, err)
	}
	text, err := io.ReadAll(in)
	if err != nil {
		return nil, fmt.Errorf("tokenize: reading stdin: %w", err)
	}
	ids := []core.TokenID{}
	if bos {
		b := tok.Vocab().BOS
		if b == core.NoToken {
			return nil, core.Errorf(core.KindInvalid, "tokenize", "%s: --bos: the vocabulary has no BOS token", path)
		}
		ids = append(ids, b)
	}
	return tok.Encode(ids, string(text), special)
}
