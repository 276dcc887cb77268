package scenario

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"

	"github.com/otrange/otrange/internal/yamlstrict"
)

// Schema returns a JSON Schema (draft 2020-12) of the scenario format, for
// editors (scenarios/schema.json is this output). It is derived from the Go
// types and the action table, so it cannot drift from the loader; the
// linter remains the authority (references between steps, targets and
// ranges are beyond the schema).
func Schema() []byte {
	g := &schemaGen{defs: map[string]any{}}
	root := g.object(reflect.TypeFor[Scenario]())
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://github.com/otrange/otrange/scenarios/schema.json"
	root["title"] = "otrange scenario"
	root["description"] = "An otrange exercise scenario: attack steps against the plant, injects per role, expectations. See scenarios/README.md."
	// Per-action parameters.
	var cases []any
	for _, a := range Actions {
		then := map[string]any{}
		var forbidden []any
		if a.New == nil {
			forbidden = append(forbidden, map[string]any{"required": []string{"params"}})
		} else {
			name := "params." + a.Name
			g.defs[name] = g.object(reflect.TypeOf(a.New()).Elem())
			then["properties"] = map[string]any{"params": map[string]any{"$ref": "#/$defs/" + name}}
		}
		if a.Target == TargetNone {
			forbidden = append(forbidden, map[string]any{"required": []string{"target"}})
		} else {
			then["required"] = []string{"target"}
		}
		if len(forbidden) > 0 {
			then["not"] = map[string]any{"anyOf": forbidden}
		}
		cases = append(cases, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"action": map[string]any{"const": a.Name}}, "required": []string{"action"}},
			"then": then,
		})
	}
	step := g.defs["Step"].(map[string]any)
	step["allOf"] = cases
	step["oneOf"] = []any{
		map[string]any{"required": []string{"at"}},
		map[string]any{"required": []string{"after"}},
		map[string]any{"required": []string{"on"}},
	}
	root["$defs"] = g.defs
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		panic(err) // only maps, slices and strings: cannot fail
	}
	return append(out, '\n')
}

type schemaGen struct {
	defs map[string]any
}

// required lists, per type, the keys a file must give.
var schemaRequired = map[string][]string{
	"Scenario":            {"id", "title", "summary", "references", "techniques", "roles", "phases"},
	"Reference":           {"title", "url"},
	"CustomRole":          {"id", "name"},
	"Phase":               {"name", "steps"},
	"Step":                {"id", "name", "action"},
	"Inject":              {"text"},
	"Attachment":          {"name", "content"},
	"ConsequenceExpected": {"condition"},
	"Prevention":          {"action", "device"},
	"SpoofPoint":          {"type", "index", "value"},
}

// schemaEnums constrains string fields to their closed lists.
func schemaEnums() map[string][]string {
	conds := make([]string, len(Consequences))
	for i, c := range Consequences {
		conds[i] = c.Name
	}
	return map[string][]string{
		"Step.action":                   actionNames(),
		"ConsequenceExpected.condition": conds,
		"Prevention.action":             PreventionActions,
		"Prevention.mode":               Modes,
		"Trigger.action":                ParticipantActions,
		"Trigger.on_timeout":            {"skip", "run"},
		"ModbusRead.table":              modbusTables,
		"ModbusScanAddresses.table":     modbusTables,
		"ModbusWrite.table":             {"holding", "coil"},
		"ModbusWrite.function":          {"single", "multiple"},
		"ModbusIdentify.level":          {"basic", "regular", "extended", "specific"},
		"ModbusFlood.mode":              {"requests", "connections"},
		"DNP3Read.kind":                 {"integrity", "class"},
		"DNP3Operate.point":             {"crob", "analog"},
		"DNP3Operate.mode":              {"direct", "select_operate", "direct_no_ack"},
		"DNP3Operate.op":                crobOps,
		"DNP3Restart.kind":              {"cold", "warm"},
		"DNP3Unsolicited.mode":          {"enable", "disable"},
		"DNP3Broadcast.request":         {"cold_restart", "warm_restart", "disable_unsolicited", "enable_unsolicited", "direct_operate_no_ack"},
		"DNP3Broadcast.op":              crobOps[:6],
		"SpoofPoint.type":               {"binary_input", "analog_input", "counter"},
		"PlantFault.fault":              Faults,
		"PlantMode.mode":                Modes,
		"ModbusDiagnostic.sub":          sortedKeys(DiagnosticSubFunctions),
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	enums := schemaEnums()
	fs := yamlstrict.FieldsOf(t)
	for _, name := range fs.Names {
		f := t.Field(fs.Index[name])
		s := g.schema(f.Type)
		if e, ok := enums[t.Name()+"."+name]; ok {
			s = map[string]any{"type": "string", "enum": e}
		}
		props[name] = s
	}
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if r := schemaRequired[t.Name()]; r != nil {
		o["required"] = r
	}
	return o
}

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch t {
	case durationType:
		return map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`,
			"description": "a duration with a unit, e.g. 500ms, 90s, 2m, 1h30m"}
	case reflect.TypeFor[Technique]():
		return map[string]any{"oneOf": []any{
			map[string]any{"type": "string", "pattern": `^T0\d{3}$`},
			map[string]any{"type": "object", "additionalProperties": false, "required": []string{"id"},
				"properties": map[string]any{
					"id":  map[string]any{"type": "string", "pattern": `^T0\d{3}$`},
					"v19": map[string]any{"type": "string", "pattern": `^T[01]\d{3}(\.\d{3})?$`},
				}},
		}}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.Interface:
		return map[string]any{"type": "object", "description": "the action's parameters (see the per-action rules)"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0, "maximum": uint64(math.MaxUint64 >> (64 - t.Bits()))}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		name := t.Name()
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // break cycles
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	}
	return map[string]any{}
}
