module github.com/pensieve-llm/pensieve/claude

go 1.26

require github.com/pensieve-llm/pensieve/core v0.0.0

require (
	github.com/google/go-cmp v0.7.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	go.uber.org/zap v1.28.0 // indirect
)

replace github.com/pensieve-llm/pensieve/core => ../core
