package modbus

// Diagnostics (FC 8) sub-functions.
const (
	DiagReturnQueryData                uint16 = 0x00
	DiagRestartCommunications          uint16 = 0x01
	DiagReturnDiagnosticRegister       uint16 = 0x02
	DiagChangeASCIIInputDelimiter      uint16 = 0x03
	DiagForceListenOnlyMode            uint16 = 0x04
	DiagClearCounters                  uint16 = 0x0A
	DiagReturnBusMessageCount          uint16 = 0x0B
	DiagReturnBusCommErrorCount        uint16 = 0x0C
	DiagReturnBusExceptionErrorCount   uint16 = 0x0D
	DiagReturnServerMessageCount       uint16 = 0x0E
	DiagReturnServerNoResponseCount    uint16 = 0x0F
	DiagReturnServerNAKCount           uint16 = 0x10
	DiagReturnServerBusyCount          uint16 = 0x11
	DiagReturnBusCharacterOverrunCount uint16 = 0x12
	DiagClearOverrunCounterAndFlag     uint16 = 0x14
)

// Read device id codes of FC 43 / MEI 14.
const (
	DevIDBasic    uint8 = 1 // stream access to the basic objects 0x00-0x02
	DevIDRegular  uint8 = 2 // stream access to the regular objects 0x00-0x06
	DevIDExtended uint8 = 3 // stream access to all objects up to 0xFF
	DevIDSpecific uint8 = 4 // one object by id
)
