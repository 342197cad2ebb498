package config

// StarterTOML returns a commented configuration file that sets every key to
// its default, for `pensieve-cli config init`. Loading it gives Default().
func StarterTOML() []byte { return []byte(starterTOML) }

const starterTOML = `# Pensieve configuration (pensieve-cli).
#
# Precedence, lowest first: built-in defaults, this file, the selected
# [profiles.NAME] section (--profile NAME or PENSIEVE_PROFILE), environment
# variables, command-line flags. Every key has a variable: upper-case it, put
# PENSIEVE_ in front and replace dots with underscores, e.g.
# PENSIEVE_SERVER_ADDR=0.0.0.0:8080 or PENSIEVE_SERVER_API_KEYS=key1,key2
# (lists are comma-separated). The values below are the defaults.
#
# Check a file with:      pensieve-cli config validate --config FILE
# See what is in effect:  pensieve-cli config show

# Where "models pull" stores files and where relative model paths are found.
models_dir = "~/.cache/pensieve/models"
# Compute device: "auto" (Metal when available, else the CPU), "cpu", "metal".
device = "auto"

[server]
# host:port to listen on; use "0.0.0.0:8080" to accept other machines.
addr = "127.0.0.1:8080"
# Client API keys (x-api-key or Authorization: Bearer). Empty: no auth.
# Keep them out of this file with api_keys_file or PENSIEVE_SERVER_API_KEYS.
# Changes apply without a restart.
api_keys = []
# A file with more keys, one per line ('#' starts a comment).
# api_keys_file = "~/.config/pensieve/api_keys"
# Largest request body, in bytes or with a unit (KiB, MiB, GiB, kB, MB, GB).
body_limit = "32MiB"
# Generation requests one API key (or client address, without keys) may
# have in flight, streams included; more get 429. 0: no limit.
max_concurrent_per_key = 0
# Log every prompt and completion (info level, with the request id). Off,
# they never reach the logs; API keys are never logged.
log_prompts = false
# Reading one request, writing one non-streaming response ("0s": no limit).
# Streams are never cut by write_timeout.
read_timeout = "1m0s"
write_timeout = "10m0s"
idle_timeout = "2m0s"
# How long shutdown waits for requests in flight.
shutdown_timeout = "30s"
# Browser origins allowed by CORS, or ["*"]. Empty: CORS off.
cors_origins = []
# Require an API key on /metrics (when keys are configured).
metrics_auth = true
# Send unknown "claude-*" model ids to the default model (for Claude Code).
claude_alias_default = true
# Unload a model idle this long (models without their own keep_alive); it
# loads again on its next request. "0s": models stay loaded.
keep_alive = "0s"
# Memory for the models loaded at once ("24GiB"); loading another unloads
# the least recently used idle model. "0": three quarters of the memory.
memory_budget = "0"

# Requests per minute per API key (0: no limit); burst 0 means the same as
# requests_per_minute. Changes apply without a restart.
[server.rate_limit]
requests_per_minute = 0
burst = 0

# Image blocks with a URL source. Off: such requests get 400 and nothing is
# fetched. On: http/https from public addresses only (loopback, private and
# link-local addresses are refused), then handled as a base64 image, which
# text-only models refuse.
[server.image_urls]
fetch = false
max_bytes = "20MiB"
timeout = "10s"

[engine]
# Sequences decoded together in one batch.
slots = 4
# Context window per slot in tokens; 0: each model's own.
context = 0
# Most prompt tokens in one forward pass.
batch_size = 512
# Requests that may wait for a slot before new ones are refused (overloaded).
max_queue = 64
# CPU threads; 0: one per core.
threads = 0
# KV cache memory budget ("4GiB"); 0: enough for every slot's full context.
kv_memory = "0"

[log]
# "debug", "info", "warn" or "error". Changes apply without a restart.
level = "info"
# "console" or "json".
format = "console"

[hub]
# Hugging Face compatible hub for "models pull" (also HF_ENDPOINT).
endpoint = "https://huggingface.co"
# Access token for gated repositories: prefer HF_TOKEN or token_file.
# token = ""
# token_file = "~/.cache/huggingface/token"

# Models to serve. Relative paths are inside models_dir. The id defaults to
# the file name without its extension; aliases also select the model (they
# change without a restart). Uncomment and edit:
#
# [[models]]
# id = "qwen2.5-0.5b"
# path = "qwen2.5-0.5b-instruct-q4_k_m.gguf"
# aliases = ["claude-haiku-4-5"]
# context_length = 0     # 0: the model's own
# max_output_tokens = 0  # cap on max_tokens; 0: the context length
# keep_alive = "0s"      # unload after this long idle; "0s": server.keep_alive
# default = true         # used for other claude-* ids; else the first model

# Profiles override the settings above: --profile dev selects [profiles.dev].
#
# [profiles.dev]
# log = { level = "debug" }
# server = { addr = "127.0.0.1:18080" }
`
