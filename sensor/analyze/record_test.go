package analyze

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// TestRecordReset fills every field of a record (the lists up to their
// counts, as the analyzer does) and checks that reset makes it equal to
// Record{}: a field added to Record and forgotten in reset fails here.
func TestRecordReset(t *testing.T) {
	const filled = 3 // every int field, so also the counts of the lists
	var r Record
	var fill func(v reflect.Value, path string)
	fill = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Int, reflect.Int64:
			v.SetInt(filled)
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			v.SetUint(7)
		case reflect.String:
			v.SetString("x")
		case reflect.Slice: // DeviceObject.Value
			v.Set(reflect.ValueOf([]byte{1}))
		case reflect.Array:
			for i := range filled {
				fill(v.Index(i), path+"[i]")
			}
		case reflect.Struct:
			switch x := v.Addr().Interface().(type) {
			case *time.Time:
				*x = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			case *Flow:
				*x = Flow{Src: netip.MustParseAddrPort("127.0.0.1:1"), Dst: netip.MustParseAddrPort("127.0.0.2:502"), Transport: UDP}
			default:
				for i := range v.NumField() {
					fill(v.Field(i), path+"."+v.Type().Field(i).Name)
				}
			}
		default:
			t.Fatalf("%s: field of kind %s: teach this test (and Record.reset) about it", path, v.Kind())
		}
	}
	fill(reflect.ValueOf(&r).Elem(), "Record")
	if r.Modbus.NValues != filled || r.DNP3.Objects[0].NIndexes == 0 || r.Modbus.DeviceID[filled-1].Value == nil {
		t.Fatalf("the record is not filled: %+v", r)
	}
	r.reset()
	if !reflect.DeepEqual(r, Record{}) {
		t.Errorf("reset leaves fields set:\n%+v", r)
	}
}
