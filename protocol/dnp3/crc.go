package dnp3

// crcTable is the reflected table of the DNP3 polynomial 0x3D65 (0xA6BC reflected).
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA6BC
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// CRC returns the CRC-16/DNP of b (reflected polynomial 0x3D65, initial value
// 0, final complement). On the wire it is sent least significant octet first.
func CRC(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c = c>>8 ^ crcTable[byte(c)^x]
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
