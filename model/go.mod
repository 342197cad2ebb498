module github.com/pensieve-llm/pensieve/model

go 1.26

require github.com/pensieve-llm/pensieve/core v0.0.0

require github.com/google/go-cmp v0.7.0

replace github.com/pensieve-llm/pensieve/core => ../core
