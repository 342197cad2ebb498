module github.com/pensieve-llm/pensieve/metal

go 1.26

replace github.com/pensieve-llm/pensieve/core => ../core
