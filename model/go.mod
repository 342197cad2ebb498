module github.com/pensieve-llm/pensieve/model

go 1.26.0

require (
	github.com/ardanlabs/jinja v1.8.0
	github.com/google/go-cmp v0.7.0
	github.com/pensieve-llm/pensieve/core v0.0.0
	go.uber.org/zap v1.28.0
	golang.org/x/sys v0.50.0
)

require go.uber.org/multierr v1.10.0 // indirect

replace github.com/pensieve-llm/pensieve/core => ../core
