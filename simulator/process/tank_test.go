package process

import (
	"math"
	"testing"
	"time"
)

func TestTankMassBalance(t *testing.T) {
	tk := NewTank(DefaultTank())
	v0 := tk.VolumeM3()
	for i := 0; i < 36000; i++ { // an hour at 100 ms, pump toggling
		tk.SetPump(i%3000 < 2000)
		tk.Step(100 * time.Millisecond)
	}
	in, out, spilled := tk.Volumes()
	if got, want := tk.VolumeM3(), v0+in-out-spilled; math.Abs(got-want) > 1e-6 {
		t.Fatalf("volume %.6f m³, mass balance says %.6f", got, want)
	}
	if spilled <= 0 {
		t.Fatalf("a pump running 2/3 of the time at 2.5x demand should overflow; spilled %.3f", spilled)
	}
}

func TestTankDirection(t *testing.T) {
	cases := []struct {
		name string
		pump bool
		up   bool
	}{{"pump on fills", true, true}, {"pump off drains", false, false}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tk := NewTank(DefaultTank())
			before := tk.Level()
			tk.SetPump(tc.pump)
			for i := 0; i < 100; i++ {
				tk.Step(100 * time.Millisecond)
			}
			if (tk.Level() > before) != tc.up {
				t.Fatalf("level %.1f -> %.1f", before, tk.Level())
			}
		})
	}
}

func TestTankNeverNegativeAndDeterministic(t *testing.T) {
	a, b := NewTank(DefaultTank()), NewTank(DefaultTank())
	for i := 0; i < 20000; i++ {
		a.Step(100 * time.Millisecond)
		b.Step(100 * time.Millisecond)
		if a.Level() < 0 {
			t.Fatalf("negative level %.3f", a.Level())
		}
	}
	if a.Level() != b.Level() {
		t.Fatalf("same seed, different levels: %v vs %v", a.Level(), b.Level())
	}
}
