package app

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func init() { register(completionCommand) }

// bashCompletion asks pensieve-cli itself for the candidates of the words
// typed so far (urfave/cli's --generate-bash-completion).
const bashCompletion = `# pensieve-cli bash completion: source <(pensieve-cli completion bash)
_pensieve_cli_complete() {
  local cur words
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == "-"* ]]; then
    words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o bashdefault -o default -F _pensieve_cli_complete pensieve-cli
`

const zshCompletion = `#compdef pensieve-cli
# pensieve-cli zsh completion: source <(pensieve-cli completion zsh)
_pensieve_cli() {
  local -a opts
  local cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
compdef _pensieve_cli pensieve-cli
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		Description: "Load it in the current shell, e.g. `source <(pensieve-cli completion bash)`, or save it\n" +
			"where your shell reads completions (fish: ~/.config/fish/completions/pensieve-cli.fish).",
		Action: func(c *cli.Context) error {
			var script string
			switch shell := c.Args().First(); shell {
			case "bash":
				script = bashCompletion
			case "zsh":
				script = zshCompletion
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return fmt.Errorf("completion: %w", err)
				}
				script = s
			default:
				return UsageErrorf("completion: want bash, zsh or fish, got %q", shell)
			}
			_, err := fmt.Fprint(c.App.Writer, script)
			return err
		},
	}
}
