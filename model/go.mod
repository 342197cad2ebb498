module github.com/pensieve-llm/pensieve/model

go 1.26

replace github.com/pensieve-llm/pensieve/core => ../core
