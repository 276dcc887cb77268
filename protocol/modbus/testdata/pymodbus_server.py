"""pymodbus server for otrange's interop test: serves a fixed data model on
HOST PORT until killed.

Holding registers 0..99 hold 100+i, input registers 0..99 hold 200+i,
coils and discrete inputs 0..99 are on when i is even.

Run with Debian's python3-pymodbus (3.0): /usr/bin/python3 pymodbus_server.py HOST PORT
"""
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.device import ModbusDeviceIdentification
from pymodbus.server import StartTcpServer


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    slave = ModbusSlaveContext(
        di=ModbusSequentialDataBlock(0, [i % 2 == 0 for i in range(100)]),
        co=ModbusSequentialDataBlock(0, [i % 2 == 0 for i in range(100)]),
        hr=ModbusSequentialDataBlock(0, [100 + i for i in range(100)]),
        ir=ModbusSequentialDataBlock(0, [200 + i for i in range(100)]),
        zero_mode=True,
    )
    context = ModbusServerContext(slaves=slave, single=True)
    identity = ModbusDeviceIdentification(info_name={
        "VendorName": "pymodbus-peer",
        "ProductCode": "PM",
        "MajorMinorRevision": "3.0",
    })
    StartTcpServer(context=context, identity=identity, address=(host, port))


if __name__ == "__main__":
    main()
