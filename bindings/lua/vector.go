package lua

import glua "github.com/yuin/gopher-lua"

// vector is WinRT's IVector as Lua sees it: a live view of a list a
// Control keeps, edited with Append, RemoveAt and Clear, read with GetAt,
// Size and ToTable.
type vector struct {
	name string
	get  func() []glua.LValue
	set  func(L *glua.LState, vals []glua.LValue)
}

var vectorClass = &class{
	name: "Vector",
	methods: map[string]glua.LGFunction{
		"Append": func(L *glua.LState) int {
			vec := self[*vector](L, "Vector:Append")
			if L.GetTop() < 2 {
				raiseArg(L, vec.name+":Append", 2, "value", "a value expected, got none")
			}
			vec.set(L, append(vec.get(), L.Get(2)))
			return 0
		},
		"Clear": func(L *glua.LState) int {
			vec := self[*vector](L, "Vector:Clear")
			vec.set(L, nil)
			return 0
		},
		"RemoveAt": func(L *glua.LState) int {
			vec := self[*vector](L, "Vector:RemoveAt")
			vals := vec.get()
			i := int(argInt(L, 2, vec.name+":RemoveAt", "index", 0, int64(len(vals))-1))
			vec.set(L, append(vals[:i], vals[i+1:]...))
			return 0
		},
		"GetAt": func(L *glua.LState) int {
			vec := self[*vector](L, "Vector:GetAt")
			vals := vec.get()
			i := int(argInt(L, 2, vec.name+":GetAt", "index", 0, int64(len(vals))-1))
			L.Push(vals[i])
			return 1
		},
		"ToTable": func(L *glua.LState) int {
			vec := self[*vector](L, "Vector:ToTable")
			t := L.NewTable()
			for _, v := range vec.get() {
				t.Append(v)
			}
			L.Push(t)
			return 1
		},
	},
	getters: map[string]getter{
		"Size": func(L *glua.LState, o any) glua.LValue { return glua.LNumber(len(o.(*vector).get())) },
	},
	tostring: func(o any) string { return "Vector " + o.(*vector).name },
}
