module github.com/pensieve-llm/pensieve/core

go 1.26
