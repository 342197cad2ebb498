module github.com/pensieve-llm/pensieve/tools

go 1.26
