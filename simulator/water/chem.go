package water

import "math"

// Carbonate equilibrium constants at 25 °C (mol/L).
var (
	k1 = math.Pow(10, -6.35)
	k2 = math.Pow(10, -10.33)
	kw = 1e-14
)

// alkalinityOf returns the alkalinity (mmol/L) of water with total carbonate
// ct (mmol/L) at pH.
func alkalinityOf(ct, ph float64) float64 {
	h := math.Pow(10, -ph)
	d := h*h + k1*h + k1*k2
	return (ct*1e-3*(k1*h+2*k1*k2)/d + kw/h - h) * 1e3
}

// carbonateOf returns the total carbonate (mmol/L) of water with alk
// (mmol/L) at pH.
func carbonateOf(alk, ph float64) float64 {
	h := math.Pow(10, -ph)
	d := h*h + k1*h + k1*k2
	return (alk*1e-3 - kw/h + h) / ((k1*h + 2*k1*k2) / d) * 1e3
}

// solvePH returns the pH of a closed carbonate system with alkalinity alk
// and total carbonate ct (both mmol/L), starting the search at guess. It is
// a bracketed Newton iteration on pH in [0, 14]: the charge balance
// alk = C_T(α1 + 2α2) + Kw/[H⁺] − [H⁺] is monotone in pH.
func solvePH(alk, ct, guess float64) float64 {
	a, c := alk*1e-3, ct*1e-3
	lo, hi := 0.0, 14.0
	x := guess
	if !(x > lo && x < hi) {
		x = 7
	}
	for range 60 {
		h := math.Pow(10, -x)
		n := k1*h + 2*k1*k2
		d := h*h + k1*h + k1*k2
		f := c*n/d + kw/h - h - a // increasing in pH
		if math.Abs(f) < 1e-12 {
			return x
		}
		if f > 0 {
			hi = x
		} else {
			lo = x
		}
		dfdh := c*(k1*d-n*(2*h+k1))/(d*d) - kw/(h*h) - 1
		dfdx := dfdh * -math.Ln10 * h
		nx := x - f/dfdx
		if !(nx > lo && nx < hi) || dfdx == 0 {
			nx = (lo + hi) / 2
		}
		if math.Abs(nx-x) < 1e-7 {
			return nx
		}
		x = nx
	}
	return x
}
