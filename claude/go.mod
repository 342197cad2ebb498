module github.com/pensieve-llm/pensieve/claude

go 1.26

require github.com/pensieve-llm/pensieve/core v0.0.0

replace github.com/pensieve-llm/pensieve/core => ../core
