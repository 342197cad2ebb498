module github.com/pensieve-llm/pensieve/claude

go 1.26

replace github.com/pensieve-llm/pensieve/core => ../core
