"""pymodbus client for otrange's interop test: runs a fixed sequence of
requests against HOST PORT and prints one JSON object with the results.

Run with Debian's python3-pymodbus (3.0): /usr/bin/python3 pymodbus_client.py HOST PORT
"""
import json
import sys

from pymodbus.client import ModbusTcpClient
from pymodbus.diag_message import ReturnQueryDataRequest, ReturnBusMessageCountRequest
from pymodbus.mei_message import ReadDeviceInformationRequest
from pymodbus.other_message import GetCommEventCounterRequest, ReadExceptionStatusRequest, ReportSlaveIdRequest


def regs(r):
    return {"error": str(r)} if r.isError() else r.registers


def bits(r, n):
    return {"error": str(r)} if r.isError() else [bool(b) for b in r.bits[:n]]


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    c = ModbusTcpClient(host, port=port, timeout=3)
    if not c.connect():
        print(json.dumps({"connect": False}))
        return 1
    out = {"connect": True}
    out["fc3"] = regs(c.read_holding_registers(2, 3, slave=1))
    out["fc4"] = regs(c.read_input_registers(5, 2, slave=1))
    out["fc2"] = bits(c.read_discrete_inputs(0, 4, slave=1), 4)
    out["fc6"] = not c.write_register(40, 1234, slave=1).isError()
    out["fc16"] = not c.write_registers(41, [5, 6, 7], slave=1).isError()
    out["fc5"] = not c.write_coil(20, True, slave=1).isError()
    out["fc15"] = not c.write_coils(21, [True, False, True], slave=1).isError()
    out["fc1"] = bits(c.read_coils(20, 4, slave=1), 4)
    # pymodbus 3.0's mask_write_register ignores slave= and sends unit 0
    # (a broadcast, never answered): unit= is what its request takes.
    out["fc22"] = not c.mask_write_register(50, 0x00F2, 0x0025, unit=1).isError()
    rw = c.readwrite_registers(read_address=0, read_count=2, write_address=60, write_registers=[9, 8], slave=1)
    out["fc23"] = regs(rw)
    out["fc7"] = c.execute(ReadExceptionStatusRequest(unit=1)).status
    out["fc8_echo"] = c.execute(ReturnQueryDataRequest([0xA537], unit=1)).message
    out["fc8_bus_messages"] = c.execute(ReturnBusMessageCountRequest(unit=1)).message
    out["fc11"] = c.execute(GetCommEventCounterRequest(unit=1)).count
    sid = c.execute(ReportSlaveIdRequest(unit=1))
    out["fc17"] = {"id": sid.identifier.decode("latin-1"), "status": bool(sid.status)}
    # No FC 24: pymodbus 3.0 reads the FIFO count as a byte count minus 4
    # (ReadFifoQueueResponse.decode), so it decodes no values from a response
    # that follows the specification.
    info = c.execute(ReadDeviceInformationRequest(read_code=3, object_id=0, unit=1))
    out["fc43"] = {str(k): v.decode("latin-1") for k, v in info.information.items()}
    out["fc43_conformity"] = info.conformity
    ex = c.read_holding_registers(98, 5, slave=1)
    out["exception"] = getattr(ex, "exception_code", None)
    c.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
