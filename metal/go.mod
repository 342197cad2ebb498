module github.com/pensieve-llm/pensieve/metal

go 1.26

replace github.com/pensieve-llm/pensieve/core => ../core

require (
	github.com/ebitengine/purego v0.11.3
	github.com/pensieve-llm/pensieve/core v0.0.0-00010101000000-000000000000
)
