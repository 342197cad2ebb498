module github.com/pensieve-llm/pensieve/tools

go 1.26.0

require (
	github.com/pensieve-llm/pensieve/core v0.0.0
	github.com/pensieve-llm/pensieve/model v0.0.0
)

replace (
	github.com/pensieve-llm/pensieve/core => ../core
	github.com/pensieve-llm/pensieve/model => ../model
)
