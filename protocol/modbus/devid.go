package modbus

// encapsulated answers FC 43: Read Device Identification; other MEI types
// are not supported.
func (d *Device) encapsulated(r *Request) (PDU, error) {
	if r.MEIType != meiReadDeviceID {
		return PDU{}, Exception(FuncEncapsulatedInterface, ExIllegalFunction)
	}
	if r.ReadDeviceIDCode == DevIDSpecific {
		v := d.objects[r.ObjectID]
		if v == nil {
			return PDU{}, Exception(FuncEncapsulatedInterface, ExIllegalDataAddress)
		}
		b := d.devIDHeader(r.ReadDeviceIDCode, 1)
		return PDU{Function: FuncEncapsulatedInterface, Data: appendObject(b, r.ObjectID, v)}, nil
	}
	return d.streamObjects(r.ReadDeviceIDCode, r.ObjectID), nil
}

// lastObjectID returns the last object id of a stream access category.
func lastObjectID(code uint8) int {
	switch code {
	case DevIDBasic:
		return firstRegularObjectID - 1
	case DevIDRegular:
		return lastRegularObjectID
	}
	return 0xFF
}

// streamObjects answers a stream access (codes 1-3) from object id start,
// which restarts at 0 when it is not an object of the category. Objects that
// do not fit in one PDU are announced with more follows and the next id.
func (d *Device) streamObjects(code, start uint8) PDU {
	last := lastObjectID(code)
	if int(start) > last || d.objects[start] == nil {
		start = 0
	}
	b := d.devIDHeader(code, 0)
	for id := int(start); id <= last; id++ {
		v := d.objects[id]
		if v == nil {
			continue
		}
		if len(b)+2+len(v) > MaxPDULen-1 {
			b[3], b[4] = moreFollowsYes, byte(id)
			break
		}
		b = appendObject(b, uint8(id), v)
		b[5]++
	}
	return PDU{Function: FuncEncapsulatedInterface, Data: b}
}

// devIDHeader returns the response header: MEI type, code, conformity level,
// more follows (no), next object id (0) and the number of objects n.
func (d *Device) devIDHeader(code, n uint8) []byte {
	b := make([]byte, devIDHeaderLen, MaxPDULen-1)
	b[0], b[1], b[2], b[5] = meiReadDeviceID, code, d.conformity, n
	return b
}

// appendObject appends one (id, length, value) object.
func appendObject(b []byte, id uint8, v []byte) []byte {
	b = append(b, id, byte(len(v)))
	return append(b, v...)
}
