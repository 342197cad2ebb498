package gguf

import (
	"fmt"
	"strconv"
)

// ValueType is the type code of a metadata value (spec §1.2).
type ValueType uint32

// The metadata value types and their codes (ggml/include/gguf.h).
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
	typeCount   ValueType = 13
)

var typeNames = [typeCount]string{
	"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
	"bool", "string", "array", "uint64", "int64", "float64",
}

// String returns the type's name as the GGUF spec spells it in lower case,
// e.g. "uint32", or "type(N)" for an unknown code.
func (t ValueType) String() string {
	if t < typeCount {
		return typeNames[t]
	}
	return "type(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// size returns the encoded size of a fixed-size scalar type, or 0 for
// strings, arrays and unknown codes.
func (t ValueType) size() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// Value is one decoded metadata value. V holds the Go value matching Type:
// uint8, int8, uint16, int16, uint32, int32, float32, bool, string, uint64,
// int64 or float64 for scalars; for TypeArray, Elem is the element type and
// V is a slice of the matching Go type ([]uint8, []int32, []float32,
// []string, []bool, …). Arrays never nest (spec §1.2).
type Value struct {
	Type ValueType
	Elem ValueType // element type when Type is TypeArray
	V    any
}

// Len returns the number of elements of an array value, or 0 for a scalar.
func (v Value) Len() int {
	switch a := v.V.(type) {
	case []uint8:
		return len(a)
	case []int8:
		return len(a)
	case []uint16:
		return len(a)
	case []int16:
		return len(a)
	case []uint32:
		return len(a)
	case []int32:
		return len(a)
	case []float32:
		return len(a)
	case []bool:
		return len(a)
	case []string:
		return len(a)
	case []uint64:
		return len(a)
	case []int64:
		return len(a)
	case []float64:
		return len(a)
	}
	return 0
}

// String formats the value for people: scalars as Go formats them, arrays
// as their element type and length.
func (v Value) String() string {
	if v.Type == TypeArray {
		return fmt.Sprintf("[%d]%s", v.Len(), v.Elem)
	}
	if s, ok := v.V.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v.V)
}

// ValueOf returns the Value holding x, inferring its GGUF type from its Go
// type: the integer, float, bool and string types above, slices of them, and
// a Value itself (returned unchanged). int and uint are stored as int64 and
// uint64. It fails with core.KindInvalid for any other type.
func ValueOf(x any) (Value, error) {
	switch x := x.(type) {
	case Value:
		return x, checkValue(x)
	case uint8:
		return Value{Type: TypeUint8, V: x}, nil
	case int8:
		return Value{Type: TypeInt8, V: x}, nil
	case uint16:
		return Value{Type: TypeUint16, V: x}, nil
	case int16:
		return Value{Type: TypeInt16, V: x}, nil
	case uint32:
		return Value{Type: TypeUint32, V: x}, nil
	case int32:
		return Value{Type: TypeInt32, V: x}, nil
	case float32:
		return Value{Type: TypeFloat32, V: x}, nil
	case bool:
		return Value{Type: TypeBool, V: x}, nil
	case string:
		return Value{Type: TypeString, V: x}, nil
	case uint64:
		return Value{Type: TypeUint64, V: x}, nil
	case int64:
		return Value{Type: TypeInt64, V: x}, nil
	case float64:
		return Value{Type: TypeFloat64, V: x}, nil
	case int:
		return Value{Type: TypeInt64, V: int64(x)}, nil
	case uint:
		return Value{Type: TypeUint64, V: uint64(x)}, nil
	case []uint8:
		return Value{Type: TypeArray, Elem: TypeUint8, V: x}, nil
	case []int8:
		return Value{Type: TypeArray, Elem: TypeInt8, V: x}, nil
	case []uint16:
		return Value{Type: TypeArray, Elem: TypeUint16, V: x}, nil
	case []int16:
		return Value{Type: TypeArray, Elem: TypeInt16, V: x}, nil
	case []uint32:
		return Value{Type: TypeArray, Elem: TypeUint32, V: x}, nil
	case []int32:
		return Value{Type: TypeArray, Elem: TypeInt32, V: x}, nil
	case []float32:
		return Value{Type: TypeArray, Elem: TypeFloat32, V: x}, nil
	case []bool:
		return Value{Type: TypeArray, Elem: TypeBool, V: x}, nil
	case []string:
		return Value{Type: TypeArray, Elem: TypeString, V: x}, nil
	case []uint64:
		return Value{Type: TypeArray, Elem: TypeUint64, V: x}, nil
	case []int64:
		return Value{Type: TypeArray, Elem: TypeInt64, V: x}, nil
	case []float64:
		return Value{Type: TypeArray, Elem: TypeFloat64, V: x}, nil
	}
	return Value{}, fmt.Errorf("unsupported metadata value type %T", x)
}

// checkValue verifies that a hand-built Value's Go type matches its Type.
func checkValue(v Value) error {
	switch v.V.(type) {
	case Value, int, uint:
		return fmt.Errorf("a Value cannot hold a %T", v.V)
	}
	w, err := ValueOf(v.V)
	if err != nil {
		return err
	}
	if w.Type != v.Type || w.Elem != v.Elem {
		return fmt.Errorf("value of Go type %T does not match GGUF type %s", v.V, typeLabel(v))
	}
	return nil
}

func typeLabel(v Value) string {
	if v.Type == TypeArray {
		return "array of " + v.Elem.String()
	}
	return v.Type.String()
}
