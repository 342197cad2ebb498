package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pensieve-llm/pensieve/core"
)

func init() { register(chatCommand) }

const chatHelp = `Type a message and press Enter. A line ending with \ continues on the next line;
a line holding only """ starts a block that ends at the next such line.
  /system TEXT  set the system prompt (empty TEXT removes it); kept by /clear
  /clear        forget the conversation
  /help         show this help
  /exit         leave (also /bye, Ctrl-D or Ctrl-C)`

func chatCommand() *cli.Command {
	return &cli.Command{
		Name:  "chat",
		Usage: "talk with a local model in the terminal (also reads a piped conversation from stdin)",
		Description: "Every turn renders the whole conversation with the model's chat template; the engine reuses\n" +
			"   the cached prefix, so only the new turn is evaluated. The oldest turns are dropped when the\n" +
			"   conversation outgrows the context.\n\n" + chatHelp,
		Flags: append(append(globalFlags(),
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "model `FILE` (GGUF); a relative name is also looked up in the models directory"},
			&cli.StringFlag{Name: "system", Usage: "initial system prompt `TEXT`"},
			modelsDirFlag(),
			&cli.IntFlag{Name: "context", Usage: "context window in tokens, 0 for the model's own (capped at 4096) (engine.context)"},
		), append(deviceFlags(), samplingFlags()...)...),
		OnUsageError: onUsageError,
		Action:       chatAction,
	}
}

func chatAction(c *cli.Context) error {
	if c.NArg() != 0 {
		return UsageErrorf("chat: unexpected arguments %q", c.Args().Slice())
	}
	samp, err := sampling(c)
	if err != nil {
		return err
	}
	if c.Int("max-tokens") < 0 {
		return UsageErrorf("chat: -n %d: must not be negative", c.Int("max-tokens"))
	}
	cfg, err := loadLocalConfig(c)
	if err != nil {
		return err
	}
	lm, err := openLocalModel(c, cfg)
	if err != nil {
		return err
	}
	defer lm.Close()
	eng, err := newLocalEngine(lm, cfg.Engine.Context, cfg.Engine.BatchSize)
	if err != nil {
		return err
	}
	defer eng.Close(context.WithoutCancel(c.Context))

	s := &chatSession{
		lm: lm, gen: eng, context: eng.Stats().Context,
		sampling: samp, maxTokens: c.Int("max-tokens"), stop: c.StringSlice("stop"), ignoreEOS: c.Bool("ignore-eos"),
		system: c.String("system"),
		out:    c.App.Writer, notes: c.App.ErrWriter,
	}
	in := c.App.Reader
	if in == nil {
		in = os.Stdin
	}
	tty := isTerminalReader(in)
	if tty {
		fmt.Fprintf(s.notes, "%s on %s. /help for commands, /exit to leave.\n", lm.Model.Info().Name, lm.Device)
	}
	return s.loop(c.Context, in, tty)
}

// isTerminalReader reports whether r is a terminal (then chat prints
// prompts and a greeting).
func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// chatSession is one conversation: its history and how to answer.
// It is used by one goroutine.
type chatSession struct {
	lm        *loadedModel
	gen       core.Generator
	context   int // positions per sequence: prompt plus answer must fit
	sampling  core.Sampling
	maxTokens int // -n; 0 means as much as fits, at most defaultMaxTokens
	stop      []string
	ignoreEOS bool

	system  string             // system prompt; "" for none
	history []core.ChatMessage // user and assistant turns, oldest first

	out   io.Writer // answers
	notes io.Writer // prompts, notices and per-turn errors
}

// loop reads inputs from in and answers them until /exit, the end of the
// input, or ctx ending (Ctrl-C), all of which end the chat without error.
//
// Lines are read by a goroutine so that Ctrl-C ends the chat even while it
// waits for a line. That goroutine owns in and ends when in reaches its end
// or fails, or after its next line once loop has returned; a read blocked
// on a terminal cannot be interrupted, so when ctx ends first the goroutine
// is left to end with the process, which follows at once.
func (s *chatSession) loop(ctx context.Context, in io.Reader, tty bool) error {
	lines := make(chan string)
	readErr := make(chan error, 1)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		sc := bufio.NewScanner(in)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-quit:
				return
			}
		}
		readErr <- sc.Err()
		close(lines)
	}()

	var rd inputReader
	for {
		if tty {
			fmt.Fprint(s.notes, rd.prompt())
		}
		var line string
		var ok bool
		select {
		case line, ok = <-lines:
		case <-ctx.Done():
			fmt.Fprintln(s.notes)
			return nil
		}
		if !ok {
			if err := <-readErr; err != nil {
				return fmt.Errorf("chat: reading input: %w", err)
			}
			if text, pending := rd.flush(); pending {
				if _, err := s.handle(ctx, text); err != nil {
					return err
				}
			}
			if tty {
				fmt.Fprintln(s.notes)
			}
			return nil
		}
		text, done := rd.add(line)
		if !done {
			continue
		}
		exit, err := s.handle(ctx, text)
		if err != nil || exit {
			return err
		}
	}
}

// inputReader assembles messages from lines: a line ending with a backslash
// continues on the next line, and lines between two `"""` lines form one
// message.
type inputReader struct {
	buf   []string
	block bool // inside a """ block
}

// add takes one line and reports the message it completes, if any.
func (r *inputReader) add(line string) (string, bool) {
	line = strings.TrimRight(line, "\r")
	if r.block {
		if strings.TrimSpace(line) == `"""` {
			r.block = false
			return r.take(), true
		}
		r.buf = append(r.buf, line)
		return "", false
	}
	if len(r.buf) == 0 && strings.TrimSpace(line) == `"""` {
		r.block = true
		return "", false
	}
	if strings.HasSuffix(line, `\`) {
		r.buf = append(r.buf, strings.TrimSuffix(line, `\`))
		return "", false
	}
	r.buf = append(r.buf, line)
	return r.take(), true
}

// flush returns an unfinished message at the end of the input.
func (r *inputReader) flush() (string, bool) {
	if len(r.buf) == 0 {
		return "", false
	}
	r.block = false
	return r.take(), true
}

func (r *inputReader) take() string {
	s := strings.Join(r.buf, "\n")
	r.buf = r.buf[:0]
	return s
}

// prompt is what a terminal shows before the next line.
func (r *inputReader) prompt() string {
	if r.block || len(r.buf) > 0 {
		return "... "
	}
	return ">>> "
}

// handle runs a command or answers a message. It reports whether the chat
// should end. Problems of one turn (a message too long for the context, a
// failed generation) are reported to notes and the chat goes on; only
// output failures and cancellation end it.
func (s *chatSession) handle(ctx context.Context, text string) (exit bool, err error) {
	trimmed := strings.TrimSpace(text)
	if trimmed == "" {
		return false, nil
	}
	if strings.HasPrefix(trimmed, "/") {
		return s.command(trimmed)
	}
	err = s.ask(ctx, text)
	switch {
	case err == nil:
		return false, nil
	case ctx.Err() != nil:
		fmt.Fprintln(s.notes)
		return true, nil
	case errors.As(err, new(outputError)):
		return true, err
	}
	fmt.Fprintf(s.notes, "error: %v\n", err)
	return false, nil
}

// command runs a /command.
func (s *chatSession) command(text string) (exit bool, err error) {
	name, arg, _ := strings.Cut(text, " ")
	arg = strings.TrimSpace(arg)
	switch name {
	case "/exit", "/bye", "/quit":
		return true, nil
	case "/clear":
		s.history = nil
		fmt.Fprintln(s.notes, "conversation cleared")
	case "/system":
		s.system = arg
		if arg == "" {
			fmt.Fprintln(s.notes, "system prompt removed")
		} else {
			fmt.Fprintln(s.notes, "system prompt set")
		}
	case "/help", "/?":
		fmt.Fprintln(s.notes, chatHelp)
	default:
		fmt.Fprintf(s.notes, "unknown command %s; /help lists the commands\n", name)
	}
	return false, nil
}

// outputError marks a failure to write an answer: the chat cannot go on.
type outputError struct{ err error }

func (e outputError) Error() string { return e.err.Error() }
func (e outputError) Unwrap() error { return e.err }

// ask answers one user message, streaming the answer to out, and records
// both turns. When the conversation no longer fits the context, the oldest
// turns are dropped first.
func (s *chatSession) ask(ctx context.Context, text string) error {
	s.history = append(s.history, core.ChatMessage{Role: core.RoleUser, Content: text})
	prompt, err := s.fit()
	if err != nil {
		s.history = s.history[:len(s.history)-1]
		return err
	}
	req := &core.Request{
		Prompt:    prompt,
		Sampling:  s.sampling,
		MaxTokens: maxTokens(s.maxTokens, len(prompt), s.context),
		Stop:      s.stop,
		IgnoreEOS: s.ignoreEOS,
	}
	s.sampling.Seed++ // a new draw per turn, reproducible from --seed
	res, err := generate(ctx, s.gen, req, func(t string) error {
		if _, err := io.WriteString(s.out, t); err != nil {
			return outputError{err}
		}
		return nil
	})
	if res.Text != "" || err == nil {
		if _, werr := io.WriteString(s.out, "\n"); werr != nil && err == nil {
			err = outputError{werr}
		}
	}
	if err != nil {
		s.history = s.history[:len(s.history)-1]
		return err
	}
	s.history = append(s.history, core.ChatMessage{Role: core.RoleAssistant, Content: strings.TrimSpace(res.Text)})
	return nil
}

// fit renders the conversation, dropping the oldest exchanges until the
// prompt leaves room for an answer.
func (s *chatSession) fit() ([]core.TokenID, error) {
	room := s.maxTokens
	if room == 0 {
		room = min(defaultMaxTokens, s.context/4)
	}
	for {
		prompt, err := chatPrompt(s.lm, s.messages())
		if err != nil {
			return nil, err
		}
		if len(prompt)+room <= s.context {
			return prompt, nil
		}
		if len(s.history) <= 1 {
			return nil, core.Errorf(core.KindContextLength, "chat",
				"the message needs %d tokens plus %d for the answer; the context holds %d", len(prompt), room, s.context)
		}
		// Drop the oldest exchange: a user turn and the answer after it.
		n := min(2, len(s.history)-1)
		s.history = append(s.history[:0], s.history[n:]...)
		fmt.Fprintln(s.notes, "(the oldest turns no longer fit the context and were dropped)")
	}
}

// messages returns the conversation for the chat template.
func (s *chatSession) messages() []core.ChatMessage {
	msgs := make([]core.ChatMessage, 0, len(s.history)+1)
	if s.system != "" {
		msgs = append(msgs, core.ChatMessage{Role: core.RoleSystem, Content: s.system})
	}
	return append(msgs, s.history...)
}
