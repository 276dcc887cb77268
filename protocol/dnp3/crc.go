package dnp3

// crcTables are slicing-by-8 tables of the DNP3 polynomial 0x3D65 (0xA6BC
// reflected): crcTables[0] is the byte-at-a-time table, and crcTables[k][x]
// is the CRC of byte x followed by k zero octets, so eight octets are
// folded in with eight independent lookups.
var crcTables = func() (t [8][256]uint16) {
	for i := range t[0] {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA6BC
			} else {
				c >>= 1
			}
		}
		t[0][i] = c
	}
	for k := 1; k < 8; k++ {
		for i := range t[k] {
			p := t[k-1][i]
			t[k][i] = p>>8 ^ t[0][byte(p)]
		}
	}
	return t
}()

// CRC returns the CRC-16/DNP of b (reflected polynomial 0x3D65, initial value
// 0, final complement). On the wire it is sent least significant octet first.
func CRC(b []byte) uint16 {
	var c uint16
	t := &crcTables
	for len(b) >= 8 {
		c ^= uint16(b[0]) | uint16(b[1])<<8
		c = t[7][byte(c)] ^ t[6][c>>8] ^ t[5][b[2]] ^ t[4][b[3]] ^
			t[3][b[4]] ^ t[2][b[5]] ^ t[1][b[6]] ^ t[0][b[7]]
		b = b[8:]
	}
	for _, x := range b {
		c = c>>8 ^ t[0][byte(c)^x]
	}
	return ^c
}

// appendCRC appends the CRC of b[from:] to b, low octet first.
func appendCRC(b []byte, from int) []byte {
	c := CRC(b[from:])
	return append(b, byte(c), byte(c>>8))
}

// crcOK reports whether block is followed in b by its correct CRC.
func crcOK(block, crc []byte) bool {
	c := CRC(block)
	return crc[0] == byte(c) && crc[1] == byte(c>>8)
}
