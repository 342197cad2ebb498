module github.com/pensieve-llm/pensieve/server

go 1.26

replace (
	github.com/pensieve-llm/pensieve/claude => ../claude
	github.com/pensieve-llm/pensieve/core => ../core
	github.com/pensieve-llm/pensieve/engine => ../engine
	github.com/pensieve-llm/pensieve/metal => ../metal
	github.com/pensieve-llm/pensieve/model => ../model
)

require github.com/google/go-cmp v0.7.0
