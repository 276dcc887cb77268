package firewall

import (
	"net/netip"
	"testing"
)

func TestBlockUnblock(t *testing.T) {
	devices := map[string]bool{"plc-intake": true, "rtu-reservoir": true}
	f := New(func(d string) bool { return devices[d] }, nil)
	changes := 0
	f.OnChange(func() { changes++ })
	attacker := netip.MustParseAddr("127.66.0.1")
	hmi := netip.MustParseAddr("127.10.2.10")

	if !f.Allowed("plc-intake", attacker) {
		t.Fatal("empty firewall blocks")
	}
	src, err := ParseSource("127.66.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Block("plc-intake", src, "attacker"); !ok || err != nil {
		t.Fatalf("Block = %v, %v", ok, err)
	}
	if ok, _ := f.Block("plc-intake", src, "again"); ok {
		t.Error("a duplicate rule changed the list")
	}
	if f.Allowed("plc-intake", attacker) {
		t.Error("blocked host allowed")
	}
	if !f.Allowed("plc-intake", hmi) {
		t.Error("other host blocked")
	}
	if !f.Allowed("rtu-reservoir", attacker) {
		t.Error("block leaked to another device")
	}
	if f.Allow("plc-intake")(netip.MustParseAddr("::ffff:127.66.0.1")) {
		t.Error("IPv4-mapped form of a blocked host allowed")
	}
	net16, _ := ParseSource("127.66.0.0/16")
	if _, err := f.Block(AllDevices, net16, "attacker network"); err != nil {
		t.Fatal(err)
	}
	if f.Allowed("rtu-reservoir", netip.MustParseAddr("127.66.9.9")) {
		t.Error("network rule for all devices not applied")
	}
	if ok, _ := f.Unblock("plc-intake", src); !ok {
		t.Error("Unblock found no rule")
	}
	if f.Allowed("plc-intake", attacker) {
		t.Error("the all-devices rule should still block")
	}
	f.Reset()
	if !f.Allowed("plc-intake", attacker) || len(f.Rules()) != 0 {
		t.Error("Reset left rules")
	}
	if changes != 4 {
		t.Errorf("OnChange ran %d times, want 4 (block, block all, unblock, reset)", changes)
	}
}

func TestRefusals(t *testing.T) {
	f := New(func(d string) bool { return d == "plc" }, nil)
	p := netip.MustParsePrefix("127.66.0.1/32")
	for _, tc := range []struct {
		name   string
		device string
		src    netip.Prefix
	}{
		{"unknown device", "nope", p},
		{"empty device", "", p},
		{"invalid prefix", "plc", netip.Prefix{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.Block(tc.device, tc.src, ""); err == nil {
				t.Error("Block accepted it")
			}
		})
	}
	if _, err := ParseSource("not-an-address"); err == nil {
		t.Error("ParseSource accepted garbage")
	}
	for i := 0; i < MaxRules; i++ {
		a := netip.AddrFrom4([4]byte{127, 66, byte(i >> 8), byte(i)})
		if _, err := f.Block("plc", netip.PrefixFrom(a, 32), ""); err != nil {
			t.Fatalf("rule %d: %v", i, err)
		}
	}
	if _, err := f.Block("plc", netip.MustParsePrefix("127.67.0.0/16"), ""); err == nil {
		t.Error("rule beyond MaxRules accepted")
	}
}
